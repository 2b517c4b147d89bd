#pragma once
// The convergence checker: replicas that reach the same commit number hold the same state, and a
// committed prefix never changes. Every commit of every replica (and every later incarnation)
// reports the op's header checksum and the replicated state's checksum after it; the first
// report of an op fixes both, and any later report must match.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace keel::sim {

class ConvergenceChecker {
 public:
  // A description of the violation, or nothing if the report agrees with what came before.
  std::optional<std::string> committed(uint32_t replica, uint64_t op, uint64_t header_checksum,
                                       uint64_t state_checksum);
  uint64_t reports() const { return reports_; }

 private:
  struct First {
    uint64_t header_checksum = 0;
    uint64_t state_checksum = 0;
    uint32_t replica = 0;
    bool seen = false;
  };
  std::vector<First>
      ops_;  // by op: grows with the run, like the history (a checker, not a replica)
  uint64_t reports_ = 0;
};

}  // namespace keel::sim
