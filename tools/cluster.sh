#!/usr/bin/env bash
# A local keel cluster on loopback, in a folder of its own (docs/operations.md, "A local
# cluster"). Formats each replica's data file, writes its config, starts it, waits until every
# replica is ready, and prints the addresses.
#
#   tools/cluster.sh start  [--dir DIR] [--replicas N] [--base-port P] [--io uring|epoll|auto]
#                           [--cluster ID] [--keel PATH] [--sizes small|default]
#   tools/cluster.sh stop   --dir DIR            SIGTERM every replica and wait for it
#   tools/cluster.sh kill   --dir DIR --replica I   kill -9 one replica
#   tools/cluster.sh term   --dir DIR --replica I   stop one replica cleanly (SIGTERM)
#   tools/cluster.sh restart --dir DIR --replica I  start one replica again (same config)
#   tools/cluster.sh status --dir DIR            each replica's health and view
#   tools/cluster.sh metric --dir DIR --replica I NAME   one metric's value
#   tools/cluster.sh addresses --dir DIR        the replicas' addresses, comma-separated
#
# Ports: replica I listens on P+I, serves metrics and health on P+100+I and Redis clients on
# P+200+I (I below 100). Keep P+299 below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range, usually from 32768).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

action="${1:-}"
[ -n "$action" ] && shift
dir=""
replicas=3
base_port=7000
io=auto
cluster=1
replica=""
keel="${KEEL:-$root/build/release/keel}"
metric_name=""
sizes=small
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --replicas) replicas="$2"; shift 2 ;;
    --base-port) base_port="$2"; shift 2 ;;
    --io) io="$2"; shift 2 ;;
    --cluster) cluster="$2"; shift 2 ;;
    --replica) replica="$2"; shift 2 ;;
    --keel) keel="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    -*) echo "cluster.sh: unknown flag $1" >&2; exit 2 ;;
    *) metric_name="$1"; shift ;;
  esac
done

die() { echo "cluster.sh: $*" >&2; exit 2; }

# A zombie counts as gone: its sockets and locks are released, only the reaping is missing
# (where no init process reaps orphans).
alive() {  # pid
  [ -r "/proc/$1/stat" ] && ! awk '{ exit !($3 == "Z") }' "/proc/$1/stat" 2>/dev/null
}

# small (for tests): a data file of about 40 MiB that wraps its WAL and checkpoints every 100 ops.
# default: keel's defaults, a 4.3 GiB file (fallocated) checkpointing every 10,000 ops; what a
# benchmark should measure.
case "$sizes" in
  small) wal_slots=256 message_size_bytes_max=65536 snapshot_size_bytes_max=8388608
    checkpoint_interval=100 ;;
  default) wal_slots=16384 message_size_bytes_max=262144 snapshot_size_bytes_max=67108864
    checkpoint_interval=10000 ;;
  *) echo "cluster.sh: --sizes is small or default" >&2; exit 2 ;;
esac

http_get() {  # port path -> body; fails if nothing answers
  curl -s --max-time 2 "http://127.0.0.1:$1$2"
}

replica_port() { echo $((base_port + $1)); }
metrics_port() { echo $((base_port + 100 + $1)); }
resp_port() { echo $((base_port + 200 + $1)); }

load_layout() {
  [ -n "$dir" ] || die "--dir is required"
  [ -f "$dir/cluster.env" ] || die "$dir is not a cluster folder (no cluster.env)"
  # shellcheck disable=SC1091
  source "$dir/cluster.env"
}

write_config() {  # replica
  local i="$1"
  local members=""
  for ((j = 0; j < replicas; j++)); do
    members+="    { id = $j, address = \"127.0.0.1:$(replica_port "$j")\" },"$'\n'
  done
  cat >"$dir/replica-$i.toml" <<EOF
# Replica $i of a local keel cluster (tools/cluster.sh); keys as in docs/operations.md.
[cluster]
cluster_id = $cluster
replica_id = $i
replicas = [
$members]

[storage]
data_dir = "$dir/replica-$i"
wal_slots = $wal_slots
message_size_bytes_max = $message_size_bytes_max
snapshot_size_bytes_max = $snapshot_size_bytes_max

[checkpoint]
checkpoint_interval = $checkpoint_interval

[metrics]
prometheus_enabled = true
prometheus_address = "127.0.0.1:$(metrics_port "$i")"

[client]
resp_address = "127.0.0.1:$(resp_port "$i")"

[logging]
level = "info"
format = "pretty"
output = "file"
log_file = "$dir/replica-$i/keel.log"

[io]
backend = "$io"
EOF
}

start_replica() {  # replica
  local i="$1"
  "$keel" start --config "$dir/replica-$i.toml" >>"$dir/replica-$i/stdout.log" 2>&1 &
  echo $! >"$dir/replica-$i/pid"
}

ready() {  # replica: its own process answers, and it is ready
  local pid
  pid="$(cat "$dir/replica-$1/pid")"
  http_get "$(metrics_port "$1")" /health/live 2>/dev/null | grep -q " pid $pid\$" &&
    http_get "$(metrics_port "$1")" /health/ready 2>/dev/null | grep -q '^ready'
}

wait_ready() {  # replica...: until each one's own process is ready, or 60 s
  local deadline=$((SECONDS + 60))
  for i in "$@"; do
    until ready "$i"; do
      if ! alive "$(cat "$dir/replica-$i/pid")"; then
        tail -n 5 "$dir/replica-$i/stdout.log" "$dir/replica-$i/keel.log" >&2 || true
        die "replica $i exited"
      fi
      [ $SECONDS -lt $deadline ] || die "replica $i not ready after 60 s (see $dir/replica-$i/keel.log)"
      sleep 0.2
    done
  done
}

addresses() {
  local list=""
  for ((j = 0; j < replicas; j++)); do list+="${list:+,}127.0.0.1:$(replica_port "$j")"; done
  echo "$list"
}

case "$action" in
  start)
    [ -x "$keel" ] || die "no keel binary at $keel (build first, or pass --keel)"
    [ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/keel-cluster-XXXXXX")"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    [ -f "$dir/cluster.env" ] && die "$dir already holds a cluster (stop it, or use another --dir)"
    printf 'replicas=%s\nbase_port=%s\ncluster=%s\nio=%s\nkeel=%q\n' \
      "$replicas" "$base_port" "$cluster" "$io" "$keel" >"$dir/cluster.env"
    for ((i = 0; i < replicas; i++)); do
      mkdir -p "$dir/replica-$i"
      write_config "$i"
      "$keel" format --cluster "$cluster" --replica "$i" --replica-count "$replicas" \
        --wal-slots "$wal_slots" --message-size-max "$message_size_bytes_max" \
        --snapshot-size-max "$snapshot_size_bytes_max" \
        --checkpoint-interval "$checkpoint_interval" "$dir/replica-$i/keel.data" >/dev/null
    done
    for ((i = 0; i < replicas; i++)); do start_replica "$i"; done
    wait_ready $(seq 0 $((replicas - 1)))
    echo "cluster ready in $dir"
    echo "addresses: $(addresses)"
    for ((i = 0; i < replicas; i++)); do
      echo "replica $i: 127.0.0.1:$(replica_port "$i") metrics http://127.0.0.1:$(metrics_port "$i")/metrics redis 127.0.0.1:$(resp_port "$i") pid $(cat "$dir/replica-$i/pid")"
    done
    echo "client: $keel client --cluster $cluster --addresses $(addresses) set k v"
    echo "redis:  redis-cli -p $(resp_port 0) set k v"
    echo "stop:   $0 stop --dir $dir"
    ;;
  stop)
    load_layout
    for ((i = 0; i < replicas; i++)); do
      pid="$(cat "$dir/replica-$i/pid" 2>/dev/null || true)"
      [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
    done
    status=0
    for ((i = 0; i < replicas; i++)); do
      pid="$(cat "$dir/replica-$i/pid" 2>/dev/null || true)"
      [ -n "$pid" ] || continue
      if wait "$pid" 2>/dev/null; then :; fi
      for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
      if alive "$pid"; then
        echo "cluster.sh: replica $i (pid $pid) did not stop in 10 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        status=1
      fi
      rm -f "$dir/replica-$i/pid"
    done
    exit $status
    ;;
  kill | term)
    load_layout
    [ -n "$replica" ] || die "--replica is required"
    pid="$(cat "$dir/replica-$replica/pid")"
    if [ "$action" = kill ]; then kill -KILL "$pid"; else kill -TERM "$pid"; fi
    # Gone only when the kernel has reaped it: its port and file lock are free after that.
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    ! alive "$pid" || die "replica $replica (pid $pid) survived $action for 10 s"
    ;;
  restart)
    load_layout
    [ -n "$replica" ] || die "--replica is required"
    start_replica "$replica"
    ;;
  status)
    load_layout
    for ((i = 0; i < replicas; i++)); do
      echo "replica $i: $(http_get "$(metrics_port "$i")" /health/ready 2>/dev/null || echo down)"
    done
    ;;
  metric)
    load_layout
    [ -n "$replica" ] && [ -n "$metric_name" ] || die "metric needs --replica I and a NAME"
    # Read whole before awk stops at the first match: curl must not write into a closed pipe.
    metrics="$(http_get "$(metrics_port "$replica")" /metrics)"
    awk -v name="$metric_name" '$1 == name || index($1, name "{") == 1 { print $2; exit }' \
      <<<"$metrics"
    ;;
  addresses)
    load_layout
    addresses
    ;;
  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
