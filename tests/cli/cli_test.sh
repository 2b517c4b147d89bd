#!/usr/bin/env bash
# End-to-end tests of the keel command line: exit codes, bad input, JSON summary, traces,
# replay of passing, failing and crashing runs, the determinism check, and sweeps.
# Usage: cli_test.sh path/to/keel
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Bad input: one clear line and the usage, exit 2, never a crash.
check "no arguments" exit_code 2 "$keel"
check "unknown command" exit_code 2 "$keel" frobnicate
check "unknown command message" has "unknown command 'frobnicate'"
check "missing seed" exit_code 2 "$keel" sim
check "missing seed message" has "\-\-seed is required"
check "bad seed" exit_code 2 "$keel" sim --seed 12x
check "bad seed message" has "'12x' is not a non-negative integer"
check "replicas out of range" exit_code 2 "$keel" sim --seed 1 --replicas 7
check "unknown protocol" exit_code 2 "$keel" sim --seed 1 --protocol paxos
check "unknown bug" exit_code 2 "$keel" sim --seed 1 --bug nope
check "unknown fixture bug" exit_code 2 "$keel" sim --seed 1 --protocol fixture-counter --bug nope
check "default protocol is vsr" exit_code 0 "$keel" sim --seed 2 --requests 50
check "default protocol named" has "protocol=vsr"
check "unknown flag" exit_code 2 "$keel" sim --seed 1 --frobnicate
check "flag without value" exit_code 2 "$keel" sim --seed
check "usage printed" has "usage:"
check "reversed seed range" exit_code 2 "$keel" sweep --seeds 5..1
check "malformed seed range" exit_code 2 "$keel" sweep --seeds 5-9
check "sweep bad pass-through" exit_code 2 "$keel" sweep --seeds 1..2 --replicas 0
check "replay without file" exit_code 2 "$keel" replay
check "replay missing file" exit_code 2 "$keel" replay nonexistent.trace
printf 'not a trace' >garbage.trace
check "replay garbage file" exit_code 2 "$keel" replay garbage.trace
check "replay garbage message" has "not a keel trace"
check "on/off flag with a value" exit_code 2 "$keel" sim --seed 1 --calm=no
check "on/off flag message" has "\-\-calm takes no value"
check "empty value" exit_code 2 "$keel" sim --seed 1 --trace=
check "unwritable trace" exit_code 2 "$keel" sim --seed 1 --requests 20 --trace /nonexistent-dir/t.trace
check "unwritable trace message" has "cannot write"
if [ -w /dev/full ]; then
  check "trace write failure" exit_code 2 "$keel" sim --seed 1 --requests 20 --trace /dev/full
fi
check "unwritable sweep folder" exit_code 2 "$keel" sweep --seeds 1..2 --out /proc
check "zero seed timeout" exit_code 2 "$keel" sweep --seeds 1..2 --seed-timeout-ms 0
# A seed that outlives --seed-timeout-ms is killed and counted as failed, and the sweep goes on.
check "seed timeout fails the sweep" exit_code 1 timeout 60 "$keel" sweep --seeds 1..2 --jobs 1 --seed-timeout-ms 1 --out slow
check "seed timeout is named" has "seed 1 FAILED (timed out after 1 ms)"
check "seed timeout count" has "sweep: 2 seeds in .*: 0 passed, 2 failed"
check "seed range ending at 2^64-1" exit_code 0 timeout 60 "$keel" sweep --seeds 18446744073709551614..18446744073709551615 --requests 20 --out wrap
check "seed range ending at 2^64-1 count" has "sweep: 2 seeds in"

# A passing run: summary, JSON, trace, and exact replay.
check "sim passes" exit_code 0 "$keel" sim --seed 3 --requests 300 --json --trace pass.trace
check "profile printed first" sh -c 'head -2 last.out | grep -q "^profile: replicas="'
tail -1 last.out >summary.json
for key in seed protocol replicas result exit_code events simulated_ns wall_ns speedup \
    requests_completed faults checks trace_hash net_loss disk_torn_write process_wipe; do
  check "json has $key" grep -q "\"$key\":" summary.json
done
check "json result pass" grep -q '"result":"pass"' summary.json
check "json is valid" python3 -c 'import json,sys; json.load(open("summary.json"))'
check "replay of passing trace" exit_code 0 "$keel" replay pass.trace
check "replay matched" has "replay: all [0-9]* records matched; reproduced verdict pass"

# A damaged footer (its hash is the file's last 8 bytes) is caught, not trusted.
cp pass.trace damaged.trace
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[-1]^=1; open(sys.argv[1],"wb").write(b)' damaged.trace
check "replay catches a damaged footer" exit_code 5 "$keel" replay damaged.trace
check "replay damaged footer message" has "a damaged footer"

# A trace the binary cannot repeat (its salt is not among the recorded flags): replay stops at
# the first differing record, shows both, and exits 5.
"$keel" sim --seed 3 --requests 300 --inject-nondeterminism --trace salted.trace >/dev/null
check "replay detects divergence" exit_code 5 "$keel" replay salted.trace
check "replay divergence shown" has "first divergence at record"
check "replay divergence verdict" has "replay: FAILED"

# Same seed, same trace hash; another seed, another.
"$keel" sim --seed 3 --requests 300 --json | tail -1 >again.json
"$keel" sim --seed 4 --requests 300 --json | tail -1 >other.json
hash_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["trace_hash"])' "$1"; }
check "same seed same hash" test "$(hash_of summary.json)" = "$(hash_of again.json)"
check "other seed other hash" test "$(hash_of summary.json)" != "$(hash_of other.json)"

# The determinism check: passes for an honest run, catches a planted source of nondeterminism.
check "determinism ok" exit_code 0 "$keel" sim --seed 5 --requests 200 --check-determinism
check "determinism ok message" has "determinism: ok"
check "determinism json is last" sh -c "'$keel' sim --seed 5 --requests 100 --check-determinism --json | tail -1 | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"determinism\"] == \"ok\"'"
check "determinism catches salt" exit_code 5 "$keel" sim --seed 5 --requests 200 --check-determinism --inject-nondeterminism
check "determinism shows divergence" has "first divergence at record"

# A planted bug: the sweep fails, keeps the failing traces, and each replays to the same verdict.
check "sweep catches planted bug" exit_code 1 "$keel" sweep --seeds 1..60 --jobs 2 --requests 300 --protocol fixture-counter --bug ack-before-sync --out bugs
check "sweep progress line" has "sweep: 60/60 done, [1-9][0-9]* failed"
failing=$(ls bugs/*.trace 2>/dev/null | head -1)
check "failing trace kept" test -n "$failing"
check "passing traces removed" test "$(ls bugs/*.trace | wc -l)" -lt 60
check "replay reproduces violation" exit_code 1 "$keel" replay "$failing"
check "replay violation message" has "reproduced verdict correctness_violation"

# A planted assertion: exit code 4, and the replay stops at the same assertion.
check "sweep finds crash" exit_code 1 "$keel" sweep --seeds 1..60 --jobs 2 --requests 300 --protocol fixture-counter --bug crash-on-recovery --out crashes
crashing=$(ls crashes/*.trace 2>/dev/null | head -1)
check "crashing trace kept" test -n "$crashing"
check "replay reproduces crash" exit_code 4 "$keel" replay "$crashing"
check "replay crash message" has "reproduced verdict crash: assertion failed"

# A passing sweep with the determinism check, and a seeds file with comments.
check "sweep passes" exit_code 0 "$keel" sweep --seeds 10..13 --jobs 2 --requests 200 --check-determinism --out ok
printf '# known seeds\n21\n\n22  # a comment\n' >seeds.txt
check "seeds file" exit_code 0 "$keel" sweep --seeds-file seeds.txt --requests 200 --out ok
check "seeds file count" has "sweep: 2 seeds in"
printf '21\nnope\n' >bad-seeds.txt
check "bad seeds file" exit_code 2 "$keel" sweep --seeds-file bad-seeds.txt
check "bad seeds file names line" has "bad-seeds.txt:2"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
