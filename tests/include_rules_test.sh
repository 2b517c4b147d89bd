#!/usr/bin/env bash
# The include-rules check passes on the real core/ and workloads/, and fails on code that
# reaches the world directly.
# Usage: include_rules_test.sh SOURCE_DIR
set -uo pipefail
source_dir=$1
checker="$source_dir/tools/check-include-rules.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
expect() {  # expect EXIT_CODE DESCRIPTION FILE-CONTENT
  mkdir -p "$work/case"
  rm -f "$work/case/"*
  printf '%s\n' "$3" >"$work/case/code.cc"
  bash "$checker" "$work/case" 2>/dev/null
  local actual=$?
  if [ "$actual" -eq "$1" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $2 (exit $actual)"; fi
}

bash "$checker" "$source_dir/core" "$source_dir/workloads"
if [ $? -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: core/ and workloads/ break the rules"; fi

expect 0 "io includes are fine" '#include "io/env.h"'
expect 0 "a comment may name what is banned" '// never #include <chrono> here'
for header in chrono random thread mutex filesystem fstream ctime unistd.h fcntl.h sys/socket.h liburing.h asio.hpp; do
  expect 1 "<$header> is rejected" "#include <$header>"
done
for header in semaphore stop_token linux/io_uring.h poll.h iostream; do
  expect 1 "<$header> is rejected" "#include <$header>"
done
expect 1 "a quoted system header is rejected" '#include "chrono"'
expect 1 "the simulator is out of reach" '#include "sim/trace.h"'
expect 1 "the runtime is out of reach" '#include "runtime/ring.h"'
expect 1 "::time is rejected" 'long now() { return ::time(nullptr); }'
expect 1 "::getenv is rejected" 'const char* home = ::getenv("HOME");'
expect 1 "secure_getenv is rejected" 'const char* home = secure_getenv("HOME");'
expect 1 "lrand48 is rejected" 'long roll() { return lrand48(); }'
expect 0 "workloads may include io/ and each other" '#include "workloads/kv/state_machine.h"'
expect 1 "rand() is rejected" 'int roll() { return rand() % 6; }'
expect 1 "std::time is rejected" 'long now() { return std::time(nullptr); }'
expect 1 "getenv is rejected" 'const char* home = getenv("HOME");'
expect 1 "steady_clock is rejected" 'auto t = std::chrono::steady_clock::now();'
expect 1 "random_device is rejected" 'std::random_device device;'
expect 0 "a member named time is fine" 'uint64_t t = clock.monotonic_ns(); auto x = event.time_ns;'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
