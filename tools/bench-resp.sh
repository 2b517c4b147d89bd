#!/usr/bin/env bash
# keel side by side with Redis and etcd on this machine (docs/benchmarks.md): a durable 3-replica
# keel cluster on loopback, a redis-server with appendonly yes and appendfsync always, and a
# 3-member etcd cluster on loopback. redis-benchmark drives keel and Redis (SET and GET, -c 50
# unpipelined, and SET with -P 32); `etcdctl check perf --load=xl` drives etcd. Prints one table
# (throughput, p50, p99, peak RSS, keel's ratio) and writes results.json and results.svg under
# the results folder. Stops everything it started.
#
#   tools/bench-resp.sh [--requests N] [--out DIR] [--keel PATH]
#
# A benchmark, not a test: the figures depend on the machine; run it on a quiet one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requests=200000
out="$root/bench-results/$(date -u +%Y%m%dT%H%M%SZ)"
keel="${KEEL:-$root/build/release/keel}"
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --keel) keel="$2"; shift 2 ;;
    *) echo "bench-resp.sh: unknown flag $1" >&2; exit 2 ;;
  esac
done
[ -x "$keel" ] || { echo "bench-resp.sh: no keel at $keel (build first)" >&2; exit 2; }

# The peers, from Debian.
need=()
for tool in redis-server redis-benchmark etcd etcdctl; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    redis-server redis-tools etcd-server etcd-client
fi

mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/keel-bench-resp-XXXXXX")"
base=$((20000 + RANDOM % 30 * 300))
redis_port=$((base + 290))
etcd_pids=()
redis_pid=""
cleanup() {
  "$root/tools/cluster.sh" stop --dir "$work/keel" >/dev/null 2>&1 || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  for pid in "${etcd_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

peak_rss_kib() {  # pids... -> the sum of their peak resident sets (VmHWM)
  local total=0 pid hwm
  for pid in "$@"; do
    hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)"
    total=$((total + ${hwm:-0}))
  done
  echo "$total"
}

# redis-benchmark --csv: "test","rps","avg","min","p50","p95","p99","max"; one row.
run_redis_benchmark() {  # port test pipeline -> "rps p50 p99"
  redis-benchmark -p "$1" -t "$2" -n "$requests" -c 50 -P "$3" -r 100000 --csv 2>/dev/null |
    awk -F, 'NR == 2 { gsub(/"/, ""); print $2, $5, $7 }'
}

echo "== starting keel (3 replicas), redis (appendfsync always), etcd (3 members) in $work"
"$root/tools/cluster.sh" start --dir "$work/keel" --base-port "$base" --keel "$keel" --sizes default >/dev/null
keel_pids=($(cat "$work"/keel/replica-*/pid))
# Clients talk to the primary, as Redis clients talk to the master: its sessions reach their
# replica in-process (docs/runtime.md, "The local route"). Any other port works, one hop longer.
keel_primary=""
for _ in $(seq 100); do
  for i in 0 1 2; do
    if [ "$("$root/tools/cluster.sh" metric --dir "$work/keel" --replica "$i" vsr_is_primary \
      2>/dev/null)" = "1" ]; then keel_primary=$i; fi
  done
  [ -n "$keel_primary" ] && break
  sleep 0.1
done
[ -n "$keel_primary" ] || { echo "bench-resp.sh: keel elected no primary" >&2; exit 1; }
keel_port=$((base + 200 + keel_primary))
echo "keel's primary is replica $keel_primary: redis-benchmark uses its port $keel_port"

redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --appendonly yes \
  --appendfsync always --save "" --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!

cluster=""
for i in 0 1 2; do cluster+="${cluster:+,}e$i=http://127.0.0.1:$((base + 280 + i))"; done
for i in 0 1 2; do
  etcd --name "e$i" --data-dir "$work/etcd-$i" \
    --listen-peer-urls "http://127.0.0.1:$((base + 280 + i))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((base + 280 + i))" \
    --listen-client-urls "http://127.0.0.1:$((base + 270 + i))" \
    --advertise-client-urls "http://127.0.0.1:$((base + 270 + i))" \
    --initial-cluster "$cluster" --initial-cluster-state new >"$work/etcd-$i.log" 2>&1 &
  etcd_pids+=($!)
done
etcd_endpoints="127.0.0.1:$((base + 270)),127.0.0.1:$((base + 271)),127.0.0.1:$((base + 272))"
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 &&
    ETCDCTL_API=3 etcdctl --endpoints "$etcd_endpoints" endpoint health >/dev/null 2>&1 && break
  sleep 0.2
done

declare -A result
for test in set get; do
  echo "== redis-benchmark $test -c 50 against keel and redis"
  result[keel_$test]="$(run_redis_benchmark "$keel_port" "$test" 1)"
  result[redis_$test]="$(run_redis_benchmark "$redis_port" "$test" 1)"
done
echo "== redis-benchmark set -c 50 -P 32 against keel and redis"
result[keel_set_p32]="$(run_redis_benchmark "$keel_port" set 32)"
result[redis_set_p32]="$(run_redis_benchmark "$redis_port" set 32)"
echo "== etcdctl check perf --load=xl"
etcd_text="$(ETCDCTL_API=3 etcdctl --endpoints "$etcd_endpoints" check perf --load=xl 2>&1 || true)"
# Its progress bar redraws one line with carriage returns: only the verdict lines are shown.
echo "$etcd_text" | tr '\r' '\n' | grep -v ' / [0-9]* ' | sed '/^$/d; s/^/  etcdctl: /' | tail -6 || true
# "PASS: Throughput is 150 writes/s" or "FAIL: Throughput too low: 4654 writes/s".
etcd_rps="$(grep -o '[0-9]* writes/s' <<<"$etcd_text" | awk '{ print $1 }' | tail -1 || true)"
etcd_slowest="$(grep -o 'Slowest request took[^0-9]*[0-9.]*s' <<<"$etcd_text" |
  grep -o '[0-9.]*s$' | tail -1 || true)"

keel_rss=$(peak_rss_kib "${keel_pids[@]}")
redis_rss=$(peak_rss_kib "$redis_pid")
etcd_rss=$(peak_rss_kib "${etcd_pids[@]}")

python3 - "$out" "$keel_rss" "$redis_rss" "$etcd_rss" "${etcd_rps:-0}" "${etcd_slowest:-}" \
  "${result[keel_set]}" "${result[redis_set]}" "${result[keel_get]}" "${result[redis_get]}" \
  "${result[keel_set_p32]}" "${result[redis_set_p32]}" <<'EOF'
import json, sys
out, keel_rss, redis_rss, etcd_rss, etcd_rps, etcd_slowest = sys.argv[1:7]
runs = ["keel SET -c 50", "redis SET -c 50", "keel GET -c 50", "redis GET -c 50",
        "keel SET -P 32", "redis SET -P 32"]
rows = []
for name, text in zip(runs, sys.argv[7:13]):
    parts = (text.split() + ["0", "0", "0"])[:3]  # a run that printed nothing counts as 0
    rows.append({"run": name, "ops_per_s": float(parts[0]), "p50_ms": float(parts[1]),
                 "p99_ms": float(parts[2]),
                 "peak_rss_mib": round(int(keel_rss if name.startswith("keel") else redis_rss) / 1024, 1)})
rows.append({"run": "etcd put (check perf xl)", "ops_per_s": float(etcd_rps), "p50_ms": None,
             "p99_ms": None, "slowest_s": etcd_slowest, "peak_rss_mib": round(int(etcd_rss) / 1024, 1)})
by = {row["run"]: row for row in rows}
def ratio(a, b):
    return round(by[a]["ops_per_s"] / by[b]["ops_per_s"], 2) if by[b]["ops_per_s"] else None
ratios = {"keel/redis SET -c 50": ratio("keel SET -c 50", "redis SET -c 50"),
          "keel/redis GET -c 50": ratio("keel GET -c 50", "redis GET -c 50"),
          "keel/redis SET -P 32": ratio("keel SET -P 32", "redis SET -P 32"),
          "keel SET -c 50 / etcd put": ratio("keel SET -c 50", "etcd put (check perf xl)")}
json.dump({"rows": rows, "ratios": ratios}, open(f"{out}/results.json", "w"), indent=2)
print(f"{'run':28} {'ops/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MiB':>13}")
for row in rows:
    p50 = "-" if row["p50_ms"] is None else f"{row['p50_ms']:.2f}"
    p99 = "-" if row["p99_ms"] is None else f"{row['p99_ms']:.2f}"
    print(f"{row['run']:28} {row['ops_per_s']:>10.0f} {p50:>8} {p99:>8} {row['peak_rss_mib']:>13}")
for name, value in ratios.items():
    print(f"{name}: {value}x")
# A bar chart of throughput, by hand: no plotting library needed.
top = max(row["ops_per_s"] for row in rows) or 1
bars = []
for i, row in enumerate(rows):
    width = 500 * row["ops_per_s"] / top
    y = 30 + i * 28
    colour = "#2b6cb0" if row["run"].startswith("keel") else "#a0aec0"
    bars.append(f'<text x="5" y="{y + 15}" font-size="12">{row["run"]}</text>'
                f'<rect x="200" y="{y}" width="{width:.0f}" height="20" fill="{colour}"/>'
                f'<text x="{205 + width:.0f}" y="{y + 15}" font-size="12">{row["ops_per_s"]:.0f}/s</text>')
svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="820" height="{50 + 28 * len(rows)}">'
       '<text x="5" y="18" font-size="14">throughput, operations per second (same machine, one run)</text>'
       + "".join(bars) + "</svg>")
open(f"{out}/results.svg", "w").write(svg)
print(f"results: {out}/results.json {out}/results.svg")
EOF
