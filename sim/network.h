#pragma once
// The simulated network between all endpoints (replicas, then clients). Per directed link:
// latency (a minimum plus an exponential tail), loss, duplication, reordering, bit corruption
// (caught by the receiver's frame checksum), an in-flight capacity beyond which messages drop,
// clogging (the link holds messages until a time) and blocking (partitions).

#include <cstdint>
#include <span>
#include <vector>

#include "io/types.h"
#include "sim/profile.h"
#include "sim/world.h"

namespace keel::sim {

class SimNode;

class SimNetwork {
 public:
  SimNetwork(World& world, uint32_t endpoint_count, const NetworkProfile& profile);

  void attach(std::vector<SimNode*> nodes);
  uint32_t endpoint_count() const { return endpoint_count_; }

  void send(io::NodeId from, io::NodeId to, std::span<const uint8_t> frame);

  // Why a directed link may be blocked. Each reason is set and cleared on its own, and a link
  // drops everything sent on it while any reason blocks it, so that the end of a client cutoff
  // never ends a partition, nor the reverse.
  enum class BlockReason : uint8_t {
    partition = 1 << 0,
    client_cutoff = 1 << 1,
    outside_core = 1 << 2,  // the liveness phase cuts replicas outside the core off
  };
  void set_blocked(io::NodeId from, io::NodeId to, bool blocked,
                   BlockReason reason = BlockReason::partition);
  bool blocked(io::NodeId from, io::NodeId to) const { return link(from, to).blocked != 0; }
  // A clogged link holds messages (it does not drop them) until until_ns.
  void clog(io::NodeId from, io::NodeId to, uint64_t until_ns);
  // Clogs every link into and out of node.
  void clog_node(io::NodeId node, uint64_t until_ns);
  // Cuts the endpoints below scope in two: bit i of side puts endpoint i on the first side.
  // Links between the sides are blocked (reason partition) both ways, or with one_way only from
  // the first side to the second. Endpoints at or above scope keep all their links.
  void partition(uint64_t side, uint32_t scope, bool one_way);
  // Clears one reason from every link.
  void unblock_all(BlockReason reason);
  // Clears every reason from every link.
  void unblock_all();
  // Unblocks (every reason) and unclogs every link.
  void heal_all();
  // Per-message faults may be turned off for the liveness phase.
  void set_faults_enabled(bool enabled) { faults_enabled_ = enabled; }

  uint64_t in_flight(io::NodeId from, io::NodeId to) const { return link(from, to).in_flight; }

 private:
  struct Link {
    uint8_t blocked = 0;  // BlockReason bits
    uint64_t clogged_until_ns = 0;
    uint32_t in_flight = 0;
  };
  Link& link(io::NodeId from, io::NodeId to);
  const Link& link(io::NodeId from, io::NodeId to) const;
  void transmit(io::NodeId from, io::NodeId to, std::vector<uint8_t> frame,
                uint64_t extra_delay_ns = 0);
  // Frame buffers are reused: a run sends millions of messages.
  std::vector<uint8_t> take_buffer(std::span<const uint8_t> frame);
  void give_back_buffer(std::vector<uint8_t> buffer);

  World& world_;
  const uint32_t endpoint_count_;
  const NetworkProfile& profile_;
  bool faults_enabled_ = true;
  std::vector<Link> links_;  // endpoint_count^2, row = from
  std::vector<SimNode*> nodes_;
  std::vector<std::vector<uint8_t>> spare_buffers_;
};

}  // namespace keel::sim
