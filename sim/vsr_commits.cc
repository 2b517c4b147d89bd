#include "sim/vsr_commits.h"

#include <fmt/format.h>

#include <algorithm>

#include "io/assert.h"

namespace keel::sim {

std::optional<std::string> VsrCommitOracle::counted(uint32_t replica, uint64_t view, uint64_t op,
                                                    uint64_t checksum) {
  KEEL_ASSERT(op > 0);
  if (checksum == 0) {
    return fmt::format("replica {} counted op {} committed in view {} without knowing its header",
                       replica, op, view);
  }
  const auto [it, inserted] = committed_.try_emplace(op, Committed{checksum, view, replica});
  if (inserted || it->second.checksum == checksum) return std::nullopt;
  return fmt::format(
      "replica {} counted op {} ({:016x}) committed in view {}, but replica {} had counted op {} "
      "({:016x}) committed in view {}: two different ops committed at one number",
      replica, op, checksum, view, it->second.replica, op, it->second.checksum, it->second.view);
}

std::optional<std::string> VsrCommitOracle::applied(uint32_t replica, uint64_t op,
                                                    uint64_t checksum) const {
  const auto it = committed_.find(op);
  if (it == committed_.end() || it->second.checksum == checksum) return std::nullopt;
  return fmt::format(
      "replica {} applied op {} ({:016x}), but op {} ({:016x}) was committed in view {} (counted "
      "by replica {})",
      replica, op, checksum, op, it->second.checksum, it->second.view, it->second.replica);
}

std::optional<std::string> VsrCommitOracle::announced(uint32_t replica,
                                                      const vsr::proto::StartView& start) {
  start_views_checked_++;
  // The headers run from the commit point (the anchor) to the head, in order, possibly with
  // gaps: walk them alongside the committed ops.
  int next_header = 0;
  for (auto it = committed_.lower_bound(start.commit()); it != committed_.end(); ++it) {
    const uint64_t op = it->first;
    const Committed& committed = it->second;
    // A later view may commit what an older view's log never held: that log is stale, not wrong.
    if (committed.view > start.view()) continue;
    if (op > start.op()) {
      return fmt::format(
          "replica {} started view {} with a log ending at op {}, which drops op {} ({:016x}), "
          "committed in view {} (counted by replica {})",
          replica, start.view(), start.op(), op, committed.checksum, committed.view,
          committed.replica);
    }
    while (next_header < start.headers_size() && start.headers(next_header).op() < op) {
      next_header++;
    }
    const bool named = next_header < start.headers_size() && start.headers(next_header).op() == op;
    // The anchor may go unnamed (the new log's commit point is a checkpoint).
    if (!named && op == start.commit()) continue;
    const uint64_t checksum = named ? start.headers(next_header).checksum() : 0;
    if (checksum != committed.checksum) {
      return fmt::format(
          "replica {} started view {} with {} at op {}, but op {} ({:016x}) was committed in "
          "view {} (counted by replica {})",
          replica, start.view(), named ? fmt::format("{:016x}", checksum) : "no header", op, op,
          committed.checksum, committed.view, committed.replica);
    }
  }
  return std::nullopt;
}

void VsrCommitOracle::acknowledged(uint32_t replica, uint64_t view, uint64_t op) {
  std::map<uint64_t, uint64_t>& by_view = acknowledged_[replica];
  uint64_t& op_max = by_view[view];
  op_max = std::max(op_max, op);
  // A primary counts acknowledgements of its own view only, and views only move forward.
  while (by_view.size() > views_kept) by_view.erase(by_view.begin());
}

uint32_t VsrCommitOracle::acknowledged_by(uint64_t view, uint64_t op, uint32_t except) const {
  uint32_t count = 0;
  for (const auto& [replica, by_view] : acknowledged_) {
    if (replica == except) continue;
    const auto found = by_view.find(view);
    if (found != by_view.end() && found->second >= op) count++;
  }
  return count;
}

}  // namespace keel::sim
