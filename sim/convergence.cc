#include "sim/convergence.h"

#include <fmt/format.h>

namespace keel::sim {

std::optional<std::string> ConvergenceChecker::committed(uint32_t replica, uint64_t op,
                                                         uint64_t header_checksum,
                                                         uint64_t state_checksum) {
  reports_++;
  if (ops_.size() <= op) ops_.resize(op + 1);
  First& first = ops_[op];
  if (!first.seen) {
    first = First{header_checksum, state_checksum, replica, true};
    return std::nullopt;
  }
  if (first.header_checksum != header_checksum) {
    return fmt::format(
        "convergence: replica {} committed op {} as {:016x}, but replica {} committed it as "
        "{:016x}",
        replica, op, header_checksum, first.replica, first.header_checksum);
  }
  if (first.state_checksum != state_checksum) {
    return fmt::format(
        "convergence: replica {} holds state {:016x} after op {}, replica {} held {:016x}", replica,
        state_checksum, op, first.replica, first.state_checksum);
  }
  return std::nullopt;
}

}  // namespace keel::sim
