#!/usr/bin/env bash
# Interleaved A/B of keel binaries under redis-benchmark: this VM's throughput drifts by 10-20%
# within minutes, so one run before a change and one after prove nothing. Per round and per
# binary: a fresh default-size 3-replica cluster (tools/cluster.sh), a warm-up run that creates
# the keys, then measured runs against the primary's Redis port, each with the primary's CPU time
# (user and system) per SET; the means per binary at the end.
#
#   bash tools/bench-resp-ab.sh [--rounds R] [--runs N] [--requests N] [--pipeline P]
#                               [--base-port P] KEEL_BINARY...
#
# Defaults: 3 rounds, 2 runs, 400,000 SETs of 100,000 random keys, -c 50 -P 32, ports from
# 7400 (cluster.sh's layout: Redis on base+200+I). Copy each build aside first, e.g.
# `cp build/release/keel /tmp/keel-before`.
set -euo pipefail

rounds=3
runs=2
requests=400000
pipeline=32
base_port=7400
binaries=()
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --pipeline) pipeline="$2"; shift 2 ;;
    --base-port) base_port="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "bench-resp-ab: unknown flag $1" >&2; exit 2 ;;
    *) binaries+=("$1"); shift ;;
  esac
done
((${#binaries[@]} > 0)) || { echo "bench-resp-ab: name at least one keel binary" >&2; exit 2; }
for binary in "${binaries[@]}"; do
  [[ -x "$binary" ]] || { echo "bench-resp-ab: $binary is not an executable" >&2; exit 2; }
done
command -v redis-benchmark >/dev/null || { echo "bench-resp-ab: needs redis-benchmark (redis-tools)" >&2; exit 2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$(mktemp -d /tmp/keel-bench-ab.XXXXXX)"
stop() {
  bash "$here/cluster.sh" stop --dir "$dir/cluster" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT

# utime + stime of a process in clock ticks: fields 14 and 15 of proc(5)'s stat, the 12th and
# 13th after the command name's closing parenthesis.
cpu_ticks() {
  awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
hz="$(getconf CLK_TCK)"

declare -A total cpu_total count
for round in $(seq "$rounds"); do
  for binary in "${binaries[@]}"; do
    bash "$here/cluster.sh" stop --dir "$dir/cluster" >/dev/null 2>&1 || true
    rm -rf "$dir/cluster"
    bash "$here/cluster.sh" start --dir "$dir/cluster" --sizes default --base-port "$base_port" \
      --keel "$binary" >"$dir/start.log" 2>&1 || { cat "$dir/start.log" >&2; exit 1; }
    port=""
    primary=""
    for i in 0 1 2; do
      if redis-cli -p $((base_port + 200 + i)) info replication 2>/dev/null | grep -q role:master; then
        port=$((base_port + 200 + i))
        primary="$i"
      fi
    done
    [[ -n "$port" ]] || { echo "bench-resp-ab: no primary found" >&2; exit 1; }
    redis-benchmark -p "$port" -t set -n 200000 -c 50 -P "$pipeline" -r 100000 --csv >/dev/null 2>&1
    pid="$(cat "$dir/cluster/replica-$primary/pid")"
    for run in $(seq "$runs"); do
      cpu_before="$(cpu_ticks "$pid")"
      # "SET","rps","avg","min","p50","p95","p99","max"
      line="$(redis-benchmark -p "$port" -t set -n "$requests" -c 50 -P "$pipeline" -r 100000 \
        --csv 2>/dev/null | tail -1 | tr -d '"')"
      cpu_after="$(cpu_ticks "$pid")"
      rps="$(cut -d, -f2 <<<"$line")"
      # The primary's CPU (user and system) per SET: steadier than throughput on a shared VM.
      us="$(awk -v t="$((cpu_after - cpu_before))" -v hz="$hz" -v n="$requests" \
        'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
      echo "$binary round $round run $run: $rps SET/s, p99 $(cut -d, -f7 <<<"$line") ms," \
        "primary CPU $us us per SET"
      total[$binary]="$(awk -v a="${total[$binary]:-0}" -v b="$rps" 'BEGIN { print a + b }')"
      cpu_total[$binary]="$(awk -v a="${cpu_total[$binary]:-0}" -v b="$us" 'BEGIN { print a + b }')"
      count[$binary]=$((${count[$binary]:-0} + 1))
    done
  done
done
for binary in "${binaries[@]}"; do
  awk -v name="$binary" -v sum="${total[$binary]}" -v cpu="${cpu_total[$binary]}" \
    -v n="${count[$binary]}" 'BEGIN {
      printf "%s: mean %.0f SET/s, primary CPU %.2f us per SET, over %d runs\n", name, sum / n,
        cpu / n, n
    }'
done
