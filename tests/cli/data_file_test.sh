#!/usr/bin/env bash
# End-to-end tests of the data file tools: keel format, dump-superblock, verify-superblock and
# verify-log, on a small file: exit codes, refusals, and damage reported at the right offset.
# Usage: data_file_test.sh path/to/keel
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# garbage FILE OFFSET: one sector of non-zero bytes over FILE at OFFSET, keeping its size.
garbage() { yes garbage | head -c 4096 | dd of="$1" bs=4096 seek=$(($2 / 4096)) conv=notrunc status=none; }

small=(--wal-slots 64 --message-size-max 65536 --snapshot-size-max 1048576 --checkpoint-interval 32)
# The layout of that file (keel format prints it; the offsets below are checked against it).
ring_at=16384
prepares_at=278528
prepare_slot_size=69632
size=7880704

# Format: bad input is exit 2 with one clear line, and nothing is created.
check "format needs a cluster" exit_code 2 "$keel" format --replica 0 --replica-count 3 a.data
check "format cluster message" has "\-\-cluster is required"
check "format replica below count" exit_code 2 "$keel" format --cluster 1 --replica 3 --replica-count 3 a.data
check "format replica message" has "not below --replica-count"
check "format invalid config" exit_code 2 "$keel" format --cluster 1 --replica 0 --replica-count 3 --wal-slots 16 --checkpoint-interval 32 a.data
check "format invalid config message" has "invalid configuration: wal_slots 16 must be at least"
check "format needs a path" exit_code 2 "$keel" format --cluster 1 --replica 0 --replica-count 3
check "nothing created" test ! -e a.data
check "format missing folder" exit_code 2 "$keel" format --cluster 1 --replica 0 --replica-count 3 "${small[@]}" --data-dir nowhere

# Format a small file, and refuse to format it again.
check "format" exit_code 0 "$keel" format --cluster 5 --replica 1 --replica-count 3 "${small[@]}" r1.data
check "format prints the size" has "formatted r1.data: $size bytes"
check "format prints the prepare ring" has "prepare ring      at *$prepares_at  64 slots of $prepare_slot_size bytes"
check "format prints the config keys" has "checkpoint_interval = 32"
check "formatted size" test "$(stat -c %s r1.data)" -eq "$size"
check "format refuses an existing file" exit_code 2 "$keel" format --cluster 5 --replica 1 --replica-count 3 "${small[@]}" r1.data
check "format refusal message" has "r1.data already exists"
check "refused file unchanged" test "$(stat -c %s r1.data)" -eq "$size"
mkdir dir
check "format --data-dir" exit_code 0 "$keel" format --cluster 5 --replica 2 --replica-count 3 "${small[@]}" --data-dir dir
check "format --data-dir file" test -f dir/keel.data

# A fresh file is clean.
check "dump-superblock" exit_code 0 "$keel" dump-superblock r1.data
check "dump-superblock copies" has "copy 3 at offset 12288: current, sequence 1"
check "dump-superblock winner" has "winner: copy 0, sequence 1: cluster 5, replica 1 of 3"
check "dump-superblock layout" has "wal_slots: 64"
check "verify-superblock" exit_code 0 "$keel" verify-superblock r1.data
check "verify-superblock message" has "all 4 superblock copies current"
check "verify-log" exit_code 0 "$keel" verify-log r1.data
check "verify-log summary" has "64 WAL slots: 0 valid (0 with body, 0 header only), 64 empty, 0 interrupted, 0 damaged; no ops"
check "verify-log --data-dir" exit_code 0 "$keel" verify-log --data-dir dir
check "dump-superblock --data-dir" exit_code 0 "$keel" dump-superblock --data-dir=dir
check "dump-superblock --data-dir replica" has "replica 2 of 3"

# One superblock copy overwritten with garbage: reported at its offset; the file still opens.
cp r1.data sb.data
garbage sb.data 8192
check "verify-superblock damaged copy" exit_code 1 "$keel" verify-superblock sb.data
check "verify-superblock names the offset" has "copy 2 at offset 8192: corrupt"
check "verify-superblock others fine" lacks "copy 1 at"
check "dump-superblock damaged copy" exit_code 0 "$keel" dump-superblock sb.data
check "dump-superblock shows it" has "copy 2 at offset 8192: corrupt"
check "verify-log with one copy damaged" exit_code 0 "$keel" verify-log sb.data
# A copy of another slot: misdirected.
cp r1.data mis.data
dd if=r1.data of=mis.data bs=4096 count=1 seek=3 conv=notrunc status=none
check "verify-superblock misdirected copy" exit_code 1 "$keel" verify-superblock mis.data
check "misdirected named" has "copy 3 at offset 12288: misdirected"

# No copy counts: the superblock is lost, and verify-log cannot know the layout.
cp r1.data lost.data
dd if=/dev/zero of=lost.data bs=4096 count=4 conv=notrunc status=none
check "dump-superblock lost" exit_code 1 "$keel" dump-superblock lost.data
check "dump-superblock lost message" has "no superblock copy counts"
check "verify-superblock lost" exit_code 1 "$keel" verify-superblock lost.data
check "verify-log lost" exit_code 1 "$keel" verify-log lost.data
check "verify-log lost message" has "layout is unknown"

# WAL damage: garbage where zeros belong, in a ring header sector and in a prepare slot.
cp r1.data ring.data
garbage ring.data $((ring_at + 5 * 4096))
check "verify-log damaged ring" exit_code 1 "$keel" verify-log ring.data
check "verify-log ring offset" has "slot 5: damaged at offset $((ring_at + 5 * 4096)): ring header sector"
check "verify-log ring summary" has "63 empty, 0 interrupted, 1 damaged"
check "verify-superblock ignores the WAL" exit_code 0 "$keel" verify-superblock ring.data
cp r1.data prepare.data
garbage prepare.data $((prepares_at + 7 * prepare_slot_size))
check "verify-log damaged prepare" exit_code 1 "$keel" verify-log prepare.data
check "verify-log prepare offset" has "slot 7: damaged at offset $((prepares_at + 7 * prepare_slot_size)): prepare slot"
# The tail of a prepare slot is never read: old bytes there are no damage.
cp r1.data tail.data
garbage tail.data $((prepares_at + 7 * prepare_slot_size + 4096))
check "verify-log prepare tail" exit_code 0 "$keel" verify-log tail.data

# Files that are not data files: exit 2, one line.
for tool in dump-superblock verify-superblock verify-log; do
  check "$tool missing file" exit_code 2 "$keel" "$tool" missing.data
  check "$tool missing message" has "cannot open missing.data"
  cp r1.data long.data
  truncate -s $((size + 4096)) long.data
  check "$tool wrong size" exit_code 2 "$keel" "$tool" long.data
  check "$tool wrong size message" has "long.data is $((size + 4096)) bytes, but the layout its superblock records takes $size bytes"
  printf 'short' >short.data
  check "$tool short file" exit_code 2 "$keel" "$tool" short.data
  check "$tool no path" exit_code 2 "$keel" "$tool"
  check "$tool two paths" exit_code 2 "$keel" "$tool" r1.data sb.data
  check "$tool unknown flag" exit_code 2 "$keel" "$tool" --frobnicate r1.data
done
if command -v flock >/dev/null; then
  check "a file in use is not read" exit_code 2 flock -x r1.data "$keel" verify-log r1.data
  check "in use message" has "r1.data is in use"
fi

echo "data_file_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
