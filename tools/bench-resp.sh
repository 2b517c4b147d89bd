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
disk="$(stat -c '%Hd:%Ld' "$work")"  # major:minor, as /proc/diskstats names it (and sync-probe.py)
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

# The block device under the work folder, and its counters from /proc/diskstats: reads, writes
# and flushes completed, and the milliseconds it was busy. Whole-device figures: anything else
# writing to the disk at the time counts too. Empty where the folder is on no block device.
disk_counters() {  # -> "reads writes flushes busy_ms"
  awk -v d="$disk" '$1 ":" $2 == d { print $4, $8, $19, $13 }' /proc/diskstats
}

# redis-benchmark --csv: "test","rps","avg","min","p50","p95","p99","max"; one row. The device's
# counters are taken around it, so the table can say what each request cost the disk.
run_redis_benchmark() {  # port test pipeline -> "rps p50 p99 reads writes flushes busy_ms wall_ms"
  local before after start_ns stop_ns figures
  before="$(disk_counters)"
  start_ns=$(date +%s%N)
  figures="$(redis-benchmark -p "$1" -t "$2" -n "$requests" -c 50 -P "$3" -r 100000 --csv 2>/dev/null |
    awk -F, 'NR == 2 { gsub(/"/, ""); print $2, $5, $7 }')"
  stop_ns=$(date +%s%N)
  after="$(disk_counters)"
  echo "${figures:-0 0 0} $(disk_delta "$before" "$after") $(((stop_ns - start_ns) / 1000000))"
}

disk_delta() {  # "before" "after" -> the four counters' differences ("- - - -" without a device)
  if [ -z "$1" ] || [ -z "$2" ]; then echo "- - - -"; return; fi
  paste -d' ' <(tr ' ' '\n' <<<"$1") <(tr ' ' '\n' <<<"$2") | awk '{ printf "%d ", $2 - $1 }'
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
etcd_disk_before="$(disk_counters)"
etcd_start_ns=$(date +%s%N)
etcd_text="$(ETCDCTL_API=3 etcdctl --endpoints "$etcd_endpoints" check perf --load=xl 2>&1 || true)"
etcd_wall_ms=$((($(date +%s%N) - etcd_start_ns) / 1000000))
etcd_disk="$(disk_delta "$etcd_disk_before" "$(disk_counters)") $etcd_wall_ms"
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
  "$requests" "$disk" "$etcd_disk" \
  "${result[keel_set]}" "${result[redis_set]}" "${result[keel_get]}" "${result[redis_get]}" \
  "${result[keel_set_p32]}" "${result[redis_set_p32]}" <<'EOF'
import json, sys
out, keel_rss, redis_rss, etcd_rss, etcd_rps, etcd_slowest, requests, disk, etcd_disk = sys.argv[1:10]
runs = ["keel SET -c 50", "redis SET -c 50", "keel GET -c 50", "redis GET -c 50",
        "keel SET -P 32", "redis SET -P 32"]

def device(counters, operations):
    """What the run cost the disk: device operations and flushes per request, and busy %."""
    parts = counters.split()
    if len(parts) != 5 or "-" in parts or operations <= 0:
        return {"disk": None}
    reads, writes, flushes, busy_ms, wall_ms = (int(part) for part in parts)
    return {"disk": disk, "device_ops_per_request": round((reads + writes + flushes) / operations, 2),
            "flushes_per_request": round(flushes / operations, 3),
            "disk_busy_percent": round(100 * busy_ms / wall_ms, 1) if wall_ms else None}

rows = []
for name, text in zip(runs, sys.argv[10:16]):
    parts = (text.split() + ["0"] * 8)[:8]  # a run that printed nothing counts as 0
    row = {"run": name, "ops_per_s": float(parts[0]), "p50_ms": float(parts[1]),
           "p99_ms": float(parts[2]),
           "peak_rss_mib": round(int(keel_rss if name.startswith("keel") else redis_rss) / 1024, 1)}
    row.update(device(" ".join(parts[3:8]), int(requests)))
    rows.append(row)
etcd_row = {"run": "etcd put (check perf xl)", "ops_per_s": float(etcd_rps), "p50_ms": None,
            "p99_ms": None, "slowest_s": etcd_slowest, "peak_rss_mib": round(int(etcd_rss) / 1024, 1)}
# check perf does not say how many puts it made: its throughput over the run's wall time.
etcd_parts = etcd_disk.split()
etcd_puts = float(etcd_rps) * int(etcd_parts[-1]) / 1000 if etcd_parts and etcd_parts[-1].isdigit() else 0
etcd_row.update(device(etcd_disk, etcd_puts))
rows.append(etcd_row)
by = {row["run"]: row for row in rows}
def ratio(a, b):
    return round(by[a]["ops_per_s"] / by[b]["ops_per_s"], 2) if by[b]["ops_per_s"] else None
ratios = {"keel/redis SET -c 50": ratio("keel SET -c 50", "redis SET -c 50"),
          "keel/redis GET -c 50": ratio("keel GET -c 50", "redis GET -c 50"),
          "keel/redis SET -P 32": ratio("keel SET -P 32", "redis SET -P 32"),
          "keel SET -c 50 / etcd put": ratio("keel SET -c 50", "etcd put (check perf xl)")}
json.dump({"rows": rows, "ratios": ratios}, open(f"{out}/results.json", "w"), indent=2)
def cell(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"
print(f"{'run':28} {'ops/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MiB':>13} "
      f"{'dev ops/req':>11} {'flush/req':>9} {'disk busy %':>11}")
for row in rows:
    print(f"{row['run']:28} {row['ops_per_s']:>10.0f} {cell(row['p50_ms'], 2):>8} "
          f"{cell(row['p99_ms'], 2):>8} {row['peak_rss_mib']:>13} "
          f"{cell(row.get('device_ops_per_request'), 2):>11} "
          f"{cell(row.get('flushes_per_request'), 3):>9} {cell(row.get('disk_busy_percent'), 1):>11}")
if rows[0]["disk"]:
    print(f"dev ops/req, flush/req, disk busy %: reads, writes and flushes completed by device {disk} "
          "(/proc/diskstats) per request, and the share of the run it was busy")
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
