#!/usr/bin/env bash
# tools/sync-probe.py runs a few durable writes in a scratch folder and reports their latency and
# device operations (or says why it cannot count them); bad arguments are refused with exit 2.
#   sync_probe_test.sh ROOT
set -euo pipefail
root="$1"
dir="$(mktemp -d "${TMPDIR:-/tmp}/keel-sync-probe-test-XXXXXX")"
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out="$(python3 "$root/tools/sync-probe.py" --dir "$dir" --count 5)"
echo "$out"
grep -q '^sync-probe: 5 durable writes of 4096 bytes' <<<"$out" || fail "no summary line"
grep -Eq '^latency: p50 [0-9]+ us, p99 [0-9]+ us, max [0-9]+ us$' <<<"$out" || fail "no latency line"
grep -Eq '^device operations( per durable write|: unknown)' <<<"$out" || fail "no device line"
[ -z "$(ls -A "$dir")" ] || fail "the scratch file was left behind"

for bad in "--count 0" "--count 100001" "--dir $dir/missing"; do
  status=0
  # shellcheck disable=SC2086  # the flags are meant to split
  python3 "$root/tools/sync-probe.py" $bad >/dev/null 2>&1 || status=$?
  [ "$status" -eq 2 ] || fail "'$bad' exited $status, not 2"
done
echo "PASS: sync-probe"
