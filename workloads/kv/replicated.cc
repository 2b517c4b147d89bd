#include "workloads/kv/replicated.h"

#include <google/protobuf/arena.h>

#include <climits>

#include "io/assert.h"

namespace keel::kv {

namespace {
constexpr size_t parse_block_size_bytes = 64 * 1024;
}

KvReplicated::KvReplicated(const Limits& limits)
    : machine_(limits), parse_block_(parse_block_size_bytes) {}

std::string KvReplicated::apply(std::string_view command, uint64_t timestamp_ns) {
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = parse_block_.data();
  arena_options.initial_block_size = parse_block_.size();
  // Frees any blocks it had to add when it goes; the first block is ours and reused.
  google::protobuf::Arena arena(arena_options);
  auto* parsed = google::protobuf::Arena::CreateMessage<proto::Command>(&arena);
  const bool fits = command.size() <= static_cast<size_t>(INT_MAX);
  const proto::Result result =
      fits && parsed->ParseFromArray(command.data(), static_cast<int>(command.size()))
          ? machine_.apply(*parsed)
          : error_result(proto::MALFORMED_COMMAND, "the command does not parse");
  std::string bytes;
  const bool serialized = result.SerializeToString(&bytes);
  KEEL_ASSERT(serialized);
  return bytes;
}

}  // namespace keel::kv
