#pragma once
// The ops a VSR cluster has committed, as its primaries counted them (VRR 4.1 step 5: a quorum,
// the primary included, acknowledged the op in the primary's view), and the checks that nothing
// goes back on one (VRR 4.2: a view change never loses a committed op):
// - an op is never counted committed with two different headers;
// - a start_view for view v names, with the same header, every op committed in a view up to v
//   after its commit point, and its log reaches every such op;
// - a replica applies an op only with the header it was committed with.
// A committed op that no client saw the outcome of can be lost without the linearizability
// checker noticing (the client may take it as never having happened); here it is caught at the
// start_view that drops it, in every run that drops one.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/vsr/messages.pb.h"

namespace keel::sim {

class VsrCommitOracle {
 public:
  // A primary counted op committed in view. What it contradicts, if anything.
  std::optional<std::string> counted(uint32_t replica, uint64_t view, uint64_t op,
                                     uint64_t checksum);
  // A replica applied op, whose header checksum is checksum.
  std::optional<std::string> applied(uint32_t replica, uint64_t op, uint64_t checksum) const;
  // A replica sends start (it is the primary of start.view()).
  std::optional<std::string> announced(uint32_t replica, const vsr::proto::StartView& start);
  // A backup acknowledged every op up to op in view (a prepare_ok the promise audit passed: it
  // holds them durably).
  void acknowledged(uint32_t replica, uint64_t view, uint64_t op);
  // How many replicas other than except acknowledged op (or a later one) in view.
  uint32_t acknowledged_by(uint64_t view, uint64_t op, uint32_t except) const;

  uint64_t committed_ops() const { return committed_.size(); }
  uint64_t start_views_checked() const { return start_views_checked_; }

 private:
  struct Committed {
    uint64_t checksum = 0;
    uint64_t view = 0;     // the view it was first counted in
    uint32_t replica = 0;  // by that view's primary
  };
  // Every op committed in the run, by op. Grows with the run's length, which the simulator
  // bounds (a run is minutes of simulated time, thousands of ops).
  std::map<uint64_t, Committed> committed_;
  // Per replica: the highest op it acknowledged, by view, for its newest views_kept views.
  static constexpr size_t views_kept = 8;
  std::map<uint32_t, std::map<uint64_t, uint64_t>> acknowledged_;
  uint64_t start_views_checked_ = 0;
};

}  // namespace keel::sim
