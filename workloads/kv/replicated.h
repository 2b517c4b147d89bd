#pragma once
// The KV state machine as VSR replicates it: commands and results cross the log and the wire as
// serialized kv.proto messages. Deterministic like the state machine it wraps.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/vsr/state_machine.h"
#include "workloads/kv/state_machine.h"

namespace keel::kv {

class KvReplicated final : public vsr::StateMachine {
 public:
  explicit KvReplicated(const Limits& limits = Limits{});

  // A serialized proto::Command in, a serialized proto::Result out. Bytes that do not parse
  // give a MALFORMED_COMMAND error result. No KV command depends on time: timestamp_ns is unused.
  std::string apply(std::string_view command, uint64_t timestamp_ns) override;
  uint64_t checksum() const override { return machine_.checksum(); }
  std::string snapshot() const override { return machine_.snapshot(); }
  bool restore(std::string_view snapshot) override { return machine_.restore(snapshot); }
  uint64_t snapshot_size_bytes_max() const override { return machine_.snapshot_size_bytes_max(); }

  const kv::StateMachine& machine() const { return machine_; }

 private:
  kv::StateMachine machine_;
  // The first block of the arena a command is parsed into: a batch of pipelined commands is
  // hundreds of small allocations otherwise (malloc and free were a tenth of a primary's CPU
  // under redis-benchmark -P 32).
  std::vector<char> parse_block_;
};

}  // namespace keel::kv
