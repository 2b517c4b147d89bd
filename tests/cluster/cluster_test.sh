#!/usr/bin/env bash
# Real keel processes on loopback (issue 4, "Tests with real processes"), on one I/O backend:
#   cluster_test.sh KEEL BACKEND SCENARIO
# Scenarios:
#   failover  1,000 acknowledged writes; SIGUSR2 makes a view change; kill -9 the primary;
#             writes continue after a view change; the killed replica restarts and catches up to the same state checksum;
#             every acknowledged write reads back.
#   wal-repair a stopped backup's committed WAL prepare is overwritten with garbage; verify-log
#             finds it; on restart the replica repairs it from its peers; every acknowledged
#             write reads back, and verify-log is clean afterwards.
#   replace   a backup's data file is lost; a replacement from `keel format --recover` makes the
#             replica recover its state from its peers (VRR 4.3); every acknowledged write reads
#             back.
#   resp      redis-cli works against every replica's Redis port; pipelined SETs through a
#             backup's port continue while the primary is killed; every acknowledged SET reads
#             back.
#   resp-full issue 5's full-size check, run by hand (not in ctest): at keel's default sizes,
#             redis-benchmark -t set -n 200000 -c 50 and 90,000 pipelined SETs of distinct keys go
#             through a backup's port while the primary is killed (kill -9) after 30,000
#             acknowledgements; redis-benchmark completes, and every acknowledged key reads back.
#   refusals  a data file of another cluster, and a config naming a replica twice, are refused
#             with clear messages (exit 2).
set -euo pipefail

keel="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
backend="$2"
scenario="$3"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cluster_sh="$root/tools/cluster.sh"

dir="$(mktemp -d "${TMPDIR:-/tmp}/keel-cluster-test-XXXXXX")"
# Ports from the pid, away from the usual 7000 and 9090 so parallel tests do not collide, and
# below the kernel's ephemeral range (32768 up), where a client socket in TIME_WAIT may hold one.
base_port=$((20000 + ($$ % 40) * 300))

cleanup() {
  local status=$?
  "$cluster_sh" stop --dir "$dir/c" >/dev/null 2>&1 || true
  if [ $status -ne 0 ]; then
    echo "--- failed; replica logs (last lines) ---" >&2
    for log in "$dir"/c/replica-*/keel.log "$dir"/c/replica-*/stdout.log; do
      [ -f "$log" ] && { echo "== $log" >&2; tail -15 "$log" >&2; }
    done
  fi
  rm -rf "$dir"
  exit $status
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

cluster() { "$cluster_sh" "$@" --dir "$dir/c"; }
metric() { cluster metric --replica "$1" "$2"; }
addresses() { cluster addresses; }

# Another test running at once may hold a port of the block: then another block is tried.
start_cluster() {  # [SIZES]: cluster.sh's --sizes, small unless given
  for attempt in 1 2 3 4 5; do
    if "$cluster_sh" start --dir "$dir/c" --base-port "$base_port" --io "$backend" \
      --keel "$keel" --sizes "${1:-small}" 2>"$dir/start.err"; then
      return 0
    fi
    grep -q "Address already in use" "$dir"/c/replica-*/keel.log 2>/dev/null ||
      { cat "$dir/start.err" >&2; fail "the cluster did not start"; }
    echo "ports from $base_port are taken; trying another block (attempt $attempt)"
    "$cluster_sh" stop --dir "$dir/c" >/dev/null 2>&1 || true
    rm -rf "$dir/c"
    base_port=$((20000 + (RANDOM % 40) * 300))
  done
  fail "no free block of ports after 5 attempts"
}

load() {  # extra flags...; prints the summary line
  "$keel" load --cluster 1 --addresses "$(addresses)" --io "$backend" "$@"
}

field() {  # summary name -> value
  tr ' ' '\n' <<<"$1" | awk -F= -v name="$2" '$1 == name { print $2 }'
}

primary() {
  for i in 0 1 2; do
    [ "$(metric "$i" vsr_is_primary 2>/dev/null)" = "1" ] && { echo "$i"; return; }
  done
  return 1
}

# Until every replica reports the same op count and state checksum (30 s at most).
wait_converged() {
  for _ in $(seq 300); do
    local ops=() sums=()
    for i in 0 1 2; do
      ops+=("$(metric "$i" vsr_operations_total 2>/dev/null || echo x$i)")
      sums+=("$(metric "$i" vsr_state_checksum 2>/dev/null || echo y$i)")
    done
    if [ "${ops[0]}" = "${ops[1]}" ] && [ "${ops[1]}" = "${ops[2]}" ] &&
      [ "${sums[0]}" = "${sums[1]}" ] && [ "${sums[1]}" = "${sums[2]}" ] &&
      [ "${ops[0]}" != "x0" ]; then
      echo "converged: ${ops[0]} ops, state checksum ${sums[0]}"
      return 0
    fi
    sleep 0.1
  done
  fail "replicas did not converge: ops ${ops[*]} checksums ${sums[*]}"
}

write_and_check() {  # ops prefix acked_file: all must be acknowledged
  local summary
  summary="$(load --sessions 10 --ops "$1" --key-prefix "$2" --acked-file "$3")"
  echo "$summary"
  [ "$(field "$summary" acknowledged)" = "$1" ] || fail "not every write was acknowledged"
}

verify_all() {  # acked_file
  local summary
  summary="$(load --sessions 10 --verify-file "$1")"
  echo "$summary"
  [ "$(field "$summary" mismatched)" = "0" ] || fail "acknowledged writes read back wrong"
  [ "$(field "$summary" unknown)" = "0" ] || fail "some reads got no answer"
  [ "$(field "$summary" acknowledged)" = "$(wc -l <"$1")" ] || fail "not every write was read"
}

failover() {
  start_cluster
  step "1,000 writes"
  write_and_check 1000 before "$dir/acked"
  local old view
  old="$(primary)" || fail "no primary"
  view="$(metric "$old" vsr_view)"
  step "SIGUSR2 to the primary (replica $old, view $view) asks for a view change"
  kill -USR2 "$(cat "$dir/c/replica-$old/pid")"
  for _ in $(seq 100); do
    [ "$(metric 0 vsr_view)" -gt "$view" ] && [ -n "$(primary)" ] && break
    sleep 0.1
  done
  [ "$(metric 0 vsr_view)" -gt "$view" ] || fail "no view change after SIGUSR2"
  old="$(primary)" || fail "no primary after SIGUSR2"
  echo "view $(metric 0 vsr_view), primary $old"
  step "kill -9 the primary (replica $old)"
  cluster kill --replica "$old"
  step "writes continue after a view change"
  local summary
  summary="$(load --sessions 10 --ops 300 --key-prefix after --acked-file "$dir/acked")"
  echo "$summary"
  [ "$(field "$summary" acknowledged)" -gt 0 ] || fail "no write acknowledged after the kill"
  local new
  new="$(primary)" || fail "no primary after the kill"
  [ "$new" != "$old" ] || fail "the killed replica is still primary"
  [ "$(metric "$new" vsr_view)" -gt 0 ] || fail "no view change"
  step "restart replica $old; it catches up"
  cluster restart --replica "$old"
  wait_converged
  verify_all "$dir/acked"
}

# The byte offset of the prepare slot that holds op (from the layout dump-superblock prints).
prepare_offset() {  # data_file op
  local line
  line="$("$keel" dump-superblock "$1" | grep -m1 'prepare ring')" || fail "no layout from dump-superblock"
  # "  prepare ring      at      1064960  256 slots of 69632 bytes"
  read -r _ _ _ prepares slots _ _ slot_size _ <<<"$line"
  echo $((prepares + ($2 % slots) * slot_size))
}

wal_repair() {
  start_cluster
  step "writes, then stop a backup"
  write_and_check 500 before "$dir/acked"
  local backup=0
  [ "$(primary)" = "0" ] && backup=1
  # The damaged op must lie above the newest checkpoint (every 100 ops here), or the replica
  # rightly never needs it again: make the newest committed op one that does.
  local commit
  commit="$(metric "$backup" vsr_commit_number)"
  while [ $((commit % 100)) -lt 2 ]; do
    "$keel" client --cluster 1 --addresses "$(addresses)" --io "$backend" set extra "$commit" >/dev/null
    sleep 0.3
    commit="$(metric "$backup" vsr_commit_number)"
  done
  cluster term --replica "$backup"
  local file="$dir/c/replica-$backup/keel.data"
  "$keel" verify-log "$file" || fail "verify-log found damage before any was done"
  local op=$((commit - 1))
  local offset
  offset="$(prepare_offset "$file" "$op")"
  step "garbage over op $op's prepare at byte $offset"
  head -c 4096 /dev/urandom | dd of="$file" bs=4096 seek=$((offset / 4096)) conv=notrunc status=none
  local report
  if report="$("$keel" verify-log "$file" 2>&1)"; then fail "verify-log missed the damage"; fi
  echo "$report" | grep -q "$offset" || fail "verify-log does not name offset $offset: $report"
  step "restart it: it finds the damage and repairs the prepare from its peers"
  cluster restart --replica "$backup"
  wait_converged
  local faulty repaired
  faulty="$(cluster metric --replica "$backup" 'vsr_events_total{replica="'"$backup"'",event="wal_slots_faulty_at_start"}')"
  repaired="$(metric "$backup" vsr_wal_repairs_total)"
  echo "replica $backup: damaged slots found at start $faulty, WAL repairs $repaired"
  [ "${faulty:-0}" -ge 1 ] || fail "the restarted replica did not find the damaged slot"
  [ "${repaired:-0}" -ge 1 ] || fail "the restarted replica repaired nothing"
  step "stop everything before any new op: the repaired file is clean"
  cluster stop
  "$keel" verify-log "$file" || fail "verify-log still finds damage after the repair"
  step "start everything again; every acknowledged write reads back"
  for i in 0 1 2; do cluster restart --replica "$i"; done
  verify_all "$dir/acked"
}

replace() {
  start_cluster
  step "writes, then a backup loses its disk"
  write_and_check 500 before "$dir/acked"
  local lost=0
  [ "$(primary)" = "0" ] && lost=1
  cluster kill --replica "$lost"
  rm "$dir/c/replica-$lost/keel.data"
  step "a replacement data file (format --recover); the replica recovers from its peers"
  "$keel" format --recover --cluster 1 --replica "$lost" --replica-count 3 --wal-slots 256 \
    --message-size-max 65536 --snapshot-size-max 8388608 --checkpoint-interval 100 \
    "$dir/c/replica-$lost/keel.data"
  cluster restart --replica "$lost"
  write_and_check 100 after "$dir/acked"
  wait_converged
  local recovered
  recovered="$(cluster metric --replica "$lost" 'vsr_events_total{replica="'"$lost"'",event="recoveries_completed"}')"
  [ "${recovered:-0}" -ge 1 ] || fail "replica $lost did not go through recovery"
  verify_all "$dir/acked"
}

# kill_primary_after_acks PRIMARY WRITER N: kill -9 the primary once the writer (a resp_check.py
# write) has N acknowledgements in $dir/resp-acked.
kill_primary_after_acks() {
  until [ "$(wc -l <"$dir/resp-acked")" -ge "$3" ]; do
    kill -0 "$2" 2>/dev/null || fail "the writer ended before $3 acknowledgements"
    sleep 0.05
  done
  cluster kill --replica "$1"
}

resp() {
  start_cluster
  local port=$((base_port + 200))
  step "redis-cli against every replica's Redis port"
  [ "$(redis-cli -p "$port" SET a 1)" = "OK" ] || fail "SET a 1"
  [ "$(redis-cli -p $((port + 1)) GET a)" = "1" ] || fail "GET a on replica 1"
  [ "$(redis-cli -p $((port + 2)) INCR n)" = "1" ] || fail "INCR n on replica 2"
  [ "$(redis-cli -p "$port" MGET a n | tr '\n' ' ')" = "1 1 " ] || fail "MGET a n"
  [ "$(redis-cli -p "$port" DBSIZE)" = "2" ] || fail "DBSIZE"
  redis-cli -p "$port" INFO | grep -q '^role:' || fail "INFO has no role"
  local old backup other
  old="$(primary)" || fail "no primary"
  backup=$(((old + 1) % 3))
  other=$(((old + 2) % 3))
  # redis-cli on the primary's own port reached it in-process (runtime/local_route.h).
  [ "$(metric "$old" vsr_local_route_messages_total)" -gt 0 ] || fail "no local route on the primary"
  step "pipelined SETs through replica $backup's port; kill -9 the primary (replica $old) midway"
  touch "$dir/resp-acked"
  python3 "$root/tests/cluster/resp_check.py" write $((port + backup)) 5000 w "$dir/resp-acked" &
  local writer=$! at_kill
  kill_primary_after_acks "$old" "$writer" 1000
  at_kill="$(wc -l <"$dir/resp-acked")"
  wait "$writer" || fail "the writer failed"
  echo "acknowledged when the primary died: $at_kill; in all: $(wc -l <"$dir/resp-acked")"
  [ "$(wc -l <"$dir/resp-acked")" -gt "$at_kill" ] || fail "no SET acknowledged after the kill"
  echo "messages on the new primary's local route: $(metric "$(primary)" vsr_local_route_messages_total)"
  step "every acknowledged SET reads back through replica $other's port"
  python3 "$root/tests/cluster/resp_check.py" verify $((port + other)) "$dir/resp-acked" ||
    fail "acknowledged SETs lost"
  [ "$(wc -l <"$dir/resp-acked")" -ge 1 ] || fail "nothing acknowledged"
}

resp_full() {
  start_cluster default
  local port=$((base_port + 200)) old backup other at_kill
  old="$(primary)" || fail "no primary"
  backup=$(((old + 1) % 3))
  other=$(((old + 2) % 3))
  step "redis-benchmark -t set -n 200000 -c 50 and 90,000 SETs through replica $backup; kill -9 the primary (replica $old) after 30,000"
  touch "$dir/resp-acked"
  python3 "$root/tests/cluster/resp_check.py" write $((port + backup)) 90000 w "$dir/resp-acked" &
  local writer=$!
  redis-benchmark -p $((port + backup)) -t set -n 200000 -c 50 --csv >"$dir/benchmark.csv" \
    2>"$dir/benchmark.err" &
  local benchmark=$!
  kill_primary_after_acks "$old" "$writer" 30000
  at_kill="$(wc -l <"$dir/resp-acked")"
  wait "$writer" || fail "the writer failed"
  wait "$benchmark" || fail "redis-benchmark failed: $(tail -3 "$dir/benchmark.err")"
  echo "acknowledged when the primary died: $at_kill; in all: $(wc -l <"$dir/resp-acked")"
  echo "redis-benchmark: $(tail -1 "$dir/benchmark.csv")"
  [ "$(wc -l <"$dir/resp-acked")" -eq 90000 ] || fail "not every SET was acknowledged"
  step "every acknowledged SET reads back through replica $other's port"
  python3 "$root/tests/cluster/resp_check.py" verify $((port + other)) "$dir/resp-acked" ||
    fail "acknowledged SETs lost"
}

refusals() {
  mkdir -p "$dir/r"
  "$keel" format --cluster 1 --replica 0 --replica-count 3 --wal-slots 256 \
    --message-size-max 65536 --snapshot-size-max 8388608 --checkpoint-interval 100 \
    "$dir/r/keel.data" >/dev/null
  cat >"$dir/r/wrong-cluster.toml" <<EOF
[cluster]
cluster_id = 2
replica_id = 0
replicas = [ { id = 0, address = "127.0.0.1:$base_port" },
             { id = 1, address = "127.0.0.1:$((base_port + 1))" },
             { id = 2, address = "127.0.0.1:$((base_port + 2))" } ]
[storage]
data_dir = "$dir/r"
wal_slots = 256
message_size_bytes_max = 65536
snapshot_size_bytes_max = 8388608
[checkpoint]
checkpoint_interval = 100
[metrics]
prometheus_address = "127.0.0.1:$((base_port + 100))"
EOF
  local out status=0
  out="$("$keel" start --config "$dir/r/wrong-cluster.toml" 2>&1)" || status=$?
  [ $status -eq 2 ] || fail "wrong cluster id: exit $status, want 2: $out"
  grep -q "another cluster or replica" <<<"$out" || fail "wrong cluster id: unclear message: $out"
  echo "wrong cluster id refused: $(grep -m1 'another cluster' <<<"$out")"

  sed -e 's/cluster_id = 2/cluster_id = 1/' \
    -e "s/{ id = 1, address/{ id = 0, address/" "$dir/r/wrong-cluster.toml" >"$dir/r/twice.toml"
  status=0
  out="$("$keel" start --config "$dir/r/twice.toml" 2>&1)" || status=$?
  [ $status -eq 2 ] || fail "replica named twice: exit $status, want 2: $out"
  grep -q "twice\|more than once\|duplicate" <<<"$out" || fail "replica named twice: unclear: $out"
  echo "replica named twice refused: $out"
}

case "$scenario" in
  failover) failover ;;
  wal-repair) wal_repair ;;
  replace) replace ;;
  resp) resp ;;
  resp-full) resp_full ;;
  refusals) refusals ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
echo "PASS: $scenario on $backend"
