#!/usr/bin/env bash
# Fails (exit 1) if any C++ file under the given folders reaches the world directly instead of
# through io/: wall clocks, threads, unseeded randomness, the filesystem, system headers,
# liburing or asio. core/ and workloads/ must stay pure and deterministic.
set -uo pipefail
banned_includes='#[[:space:]]*include[[:space:]]*<(chrono|random|thread|mutex|shared_mutex|condition_variable|future|atomic|filesystem|fstream|ctime|time\.h|csignal|signal\.h|unistd\.h|fcntl\.h|pthread\.h|sys/[a-z_/]+\.h|netinet/[a-z_]+\.h|arpa/[a-z_]+\.h|liburing\.h|liburing/[a-z_]+\.h|asio\.hpp|asio/[a-z_/]+\.hpp|boost/asio[a-z_/.]*)>'
banned_calls='(^|[^_a-zA-Z0-9.>:])(std::)?(rand|srand|random|time|getenv|clock|gettimeofday|clock_gettime)[[:space:]]*\(|std::random_device|std::(chrono::)?(system|steady|high_resolution)_clock'
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
  done < <(find "$dir" -type f \( -name '*.h' -o -name '*.cc' -o -name '*.cpp' -o -name '*.hpp' \) -print0)
done
exit $status
