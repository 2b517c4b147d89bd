#!/usr/bin/env bash
# The runtime's baseline benchmark (issue 4): a durable 3-replica cluster on loopback serving the
# native client with 50 concurrent sessions, once on io_uring and once on epoll. Prints one
# summary line a backend: operations per second and p50/p99 latency of acknowledged writes.
#
#   tools/bench-runtime.sh [--duration-s S] [--sessions N] [--value-size-bytes B] [--keel PATH]
#
# A benchmark, not a test: figures depend on the machine. Run it on a quiet one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
duration_s=10
sessions=50
value_size_bytes=100
keel="${KEEL:-$root/build/release/keel}"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration-s) duration_s="$2"; shift 2 ;;
    --sessions) sessions="$2"; shift 2 ;;
    --value-size-bytes) value_size_bytes="$2"; shift 2 ;;
    --keel) keel="$2"; shift 2 ;;
    *) echo "bench-runtime.sh: unknown flag $1" >&2; exit 2 ;;
  esac
done
[ -x "$keel" ] || { echo "bench-runtime.sh: no keel at $keel (build first)" >&2; exit 2; }

dir="$(mktemp -d "${TMPDIR:-/tmp}/keel-bench-XXXXXX")"
trap 'for b in uring epoll; do "$root/tools/cluster.sh" stop --dir "$dir/$b" >/dev/null 2>&1 || true; done; rm -rf "$dir"' EXIT

echo "keel runtime benchmark: 3 replicas on loopback, durable (fdatasync), $sessions sessions,"
echo "writes of $value_size_bytes-byte values for $duration_s s; data files in $dir ($(df -T "$dir" | awk 'NR == 2 { print $2 }'))"
for backend in uring epoll; do
  "$root/tools/cluster.sh" start --dir "$dir/$backend" --io "$backend" --keel "$keel" --sizes default \
    --base-port $((20000 + RANDOM % 40 * 300)) >/dev/null
  addresses="$("$root/tools/cluster.sh" addresses --dir "$dir/$backend")"
  "$keel" load --cluster 1 --addresses "$addresses" --io "$backend" --sessions "$sessions" \
    --duration-s "$duration_s" --value-size-bytes "$value_size_bytes" --key-prefix bench
  "$root/tools/cluster.sh" stop --dir "$dir/$backend" >/dev/null
done
