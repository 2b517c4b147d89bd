#!/usr/bin/env bash
# Fails (exit 1) if any C++ file under the given folders reaches the world directly instead of
# through io/: wall clocks, threads, unseeded randomness, the filesystem, system headers,
# liburing or asio, or the simulator, runtime or tools. core/ and workloads/ must stay pure and
# deterministic. Includes are matched in both <...> and "..." forms. Tests beside the code
# (*_test.cc) are exempt: they may drive it with the simulator.
set -uo pipefail
std_headers='chrono|random|thread|mutex|shared_mutex|condition_variable|future|atomic|semaphore|latch|barrier|stop_token|filesystem|fstream|iostream|cstdio|ctime|time\.h|csignal|signal\.h|setjmp\.h|csetjmp'
system_headers='unistd\.h|fcntl\.h|pthread\.h|poll\.h|dirent\.h|dlfcn\.h|netdb\.h|spawn\.h|sched\.h|sys/[a-z_/]+\.h|linux/[a-z_/]+\.h|netinet/[a-z_]+\.h|arpa/[a-z_]+\.h|liburing\.h|liburing/[a-z_]+\.h|asio\.hpp|asio/[a-z_/]+\.hpp|boost/asio[a-z_/.]*'
project_dirs='sim/|runtime/|tools/|tests/'
banned_includes="#[[:space:]]*include[[:space:]]*[<\"]((${std_headers}|${system_headers})[>\"]|(${project_dirs}))"
banned_calls='(^|[^_a-zA-Z0-9.>])(::)?(std::)?(rand|srand|random|srandom|rand_r|drand48|erand48|lrand48|nrand48|mrand48|jrand48|arc4random|time|getenv|secure_getenv|setenv|clock|gettimeofday|clock_gettime|getpid|sleep|usleep|nanosleep)[[:space:]]*\(|std::random_device|std::(chrono::)?(system|steady|high_resolution)_clock'
status=0
for dir in "$@"; do
  [ -d "$dir" ] || continue
  while IFS= read -r -d '' file; do
    # Comment lines are exempt so that docs may name what is banned.
    hits=$(grep -nE "$banned_includes|$banned_calls" "$file" | grep -vE '^[0-9]+:[[:space:]]*//')
    if [ -n "$hits" ]; then
      while IFS= read -r hit; do
        echo "include-rules: $file:$hit: core/ and workloads/ must go through io/" >&2
      done <<<"$hits"
      status=1
    fi
  done < <(find "$dir" -type f \( -name '*.h' -o -name '*.cc' -o -name '*.cpp' -o -name '*.hpp' \) \
             ! -name '*_test.cc' -print0)
done
exit $status
