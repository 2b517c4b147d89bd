#pragma once
// What VSR replicates: any deterministic state machine. The replica applies committed commands
// in op order on every replica; the same commands in the same order must give the same results
// and the same checksum everywhere. workloads/kv provides the key-value one.

#include <cstdint>
#include <string>
#include <string_view>

namespace keel::vsr {

class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Applies one committed command. timestamp_ns is the cluster-agreed, strictly increasing time
  // of the op that carries it. A malformed command must give an error result, never a crash:
  // clients send arbitrary bytes.
  virtual std::string apply(std::string_view command, uint64_t timestamp_ns) = 0;
  virtual uint64_t checksum() const = 0;
  virtual std::string snapshot() const = 0;
  // Replaces the state; false (state untouched) if the snapshot is damaged.
  virtual bool restore(std::string_view snapshot) = 0;
  // An upper bound on snapshot().size(), for the checkpoint area.
  virtual uint64_t snapshot_size_bytes_max() const = 0;
};

}  // namespace keel::vsr
