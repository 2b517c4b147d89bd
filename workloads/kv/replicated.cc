#include "workloads/kv/replicated.h"

#include <climits>

#include "io/assert.h"

namespace keel::kv {

KvReplicated::KvReplicated(const Limits& limits) : machine_(limits) {}

std::string KvReplicated::apply(std::string_view command, uint64_t timestamp_ns) {
  proto::Command parsed;
  const bool fits = command.size() <= static_cast<size_t>(INT_MAX);
  const proto::Result result =
      fits && parsed.ParseFromArray(command.data(), static_cast<int>(command.size()))
          ? machine_.apply(parsed)
          : error_result(proto::MALFORMED_COMMAND, "the command does not parse");
  std::string bytes;
  const bool serialized = result.SerializeToString(&bytes);
  KEEL_ASSERT(serialized);
  return bytes;
}

}  // namespace keel::kv
