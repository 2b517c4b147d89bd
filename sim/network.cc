#include "sim/network.h"

#include <algorithm>

#include "sim/node.h"

namespace keel::sim {

SimNetwork::SimNetwork(World& world, uint32_t endpoint_count, const NetworkProfile& profile)
    : world_(world),
      endpoint_count_(endpoint_count),
      profile_(profile),
      links_(static_cast<size_t>(endpoint_count) * endpoint_count) {
  KEEL_ASSERT(endpoint_count > 0 && endpoint_count <= 32);
}

void SimNetwork::attach(std::vector<SimNode*> nodes) {
  KEEL_ASSERT(nodes.size() == endpoint_count_);
  nodes_ = std::move(nodes);
}

SimNetwork::Link& SimNetwork::link(io::NodeId from, io::NodeId to) {
  KEEL_ASSERT(from < endpoint_count_ && to < endpoint_count_);
  return links_[static_cast<size_t>(from) * endpoint_count_ + to];
}

const SimNetwork::Link& SimNetwork::link(io::NodeId from, io::NodeId to) const {
  KEEL_ASSERT(from < endpoint_count_ && to < endpoint_count_);
  return links_[static_cast<size_t>(from) * endpoint_count_ + to];
}

void SimNetwork::send(io::NodeId from, io::NodeId to, std::span<const uint8_t> frame) {
  world_.record(TraceKind::send, from, to, frame.size());
  if (link(from, to).blocked) {
    world_.record(TraceKind::drop, from, to, static_cast<uint64_t>(DropReason::partition));
    return;
  }
  io::Random& random = world_.random();
  if (faults_enabled_ && profile_.loss_probability > 0 &&
      random.chance(profile_.loss_probability)) {
    world_.fault(from, FaultKind::net_loss, to);
    return;
  }
  if (faults_enabled_ && profile_.duplicate_probability > 0 &&
      random.chance(profile_.duplicate_probability)) {
    world_.fault(from, FaultKind::net_duplicate, to);
    transmit(from, to, take_buffer(frame));
  }
  if (faults_enabled_ && profile_.replay_probability > 0 &&
      random.chance(profile_.replay_probability)) {
    world_.fault(from, FaultKind::net_replay, to);
    transmit(from, to, take_buffer(frame), 1 + random.exponential(profile_.replay_delay_mean_ns));
  }
  transmit(from, to, take_buffer(frame));
}

std::vector<uint8_t> SimNetwork::take_buffer(std::span<const uint8_t> frame) {
  std::vector<uint8_t> buffer;
  if (!spare_buffers_.empty()) {
    buffer = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
  }
  buffer.assign(frame.begin(), frame.end());
  return buffer;
}

void SimNetwork::give_back_buffer(std::vector<uint8_t> buffer) {
  // Bounded: the spares are a few messages' worth, not the messages in flight.
  constexpr size_t spare_buffers_max = 64;
  if (spare_buffers_.size() < spare_buffers_max) spare_buffers_.push_back(std::move(buffer));
}

void SimNetwork::transmit(io::NodeId from, io::NodeId to, std::vector<uint8_t> frame,
                          uint64_t extra_delay_ns) {
  Link& l = link(from, to);
  if (faults_enabled_ && l.in_flight >= profile_.link_capacity_messages) {
    world_.fault(from, FaultKind::net_capacity_drop, to);
    give_back_buffer(std::move(frame));
    return;
  }
  io::Random& random = world_.random();
  uint64_t delay_ns =
      extra_delay_ns + profile_.latency_min_ns + random.exponential(profile_.latency_tail_mean_ns);
  if (faults_enabled_ && profile_.reorder_probability > 0 &&
      random.chance(profile_.reorder_probability)) {
    delay_ns += random.exponential(profile_.reorder_delay_mean_ns);
    world_.fault(from, FaultKind::net_reorder, to);
  }
  if (faults_enabled_ && profile_.corrupt_probability > 0 &&
      random.chance(profile_.corrupt_probability)) {
    const uint64_t bit = random.uniform(frame.size() * 8);
    frame[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    world_.fault(from, FaultKind::net_corrupt, to);
  }
  const uint64_t arrival_ns = std::max(world_.now_ns() + delay_ns, l.clogged_until_ns);
  l.in_flight++;
  world_.loop().schedule(arrival_ns, EventTag{to, static_cast<uint16_t>(EventKind::deliver)},
                         [this, from, to, frame = std::move(frame)]() mutable {
                           Link& arrived = link(from, to);
                           KEEL_ASSERT(arrived.in_flight > 0);
                           arrived.in_flight--;
                           nodes_[to]->deliver(from, frame);
                           give_back_buffer(std::move(frame));
                         });
}

void SimNetwork::set_blocked(io::NodeId from, io::NodeId to, bool blocked, BlockReason reason) {
  const uint8_t bit = static_cast<uint8_t>(reason);
  uint8_t& mask = link(from, to).blocked;
  mask = blocked ? (mask | bit) : (mask & ~bit);
}

void SimNetwork::clog(io::NodeId from, io::NodeId to, uint64_t until_ns) {
  Link& l = link(from, to);
  l.clogged_until_ns = std::max(l.clogged_until_ns, until_ns);
}

void SimNetwork::clog_node(io::NodeId node, uint64_t until_ns) {
  for (io::NodeId other = 0; other < endpoint_count_; other++) {
    if (other == node) continue;
    clog(node, other, until_ns);
    clog(other, node, until_ns);
  }
}

void SimNetwork::partition(uint64_t side, uint32_t scope, bool one_way) {
  KEEL_ASSERT(scope <= endpoint_count_);
  for (io::NodeId from = 0; from < scope; from++) {
    for (io::NodeId to = 0; to < scope; to++) {
      const bool from_first = (side >> from) & 1;
      const bool to_first = (side >> to) & 1;
      if (from_first == to_first) continue;
      if (one_way && !from_first) continue;
      set_blocked(from, to, true, BlockReason::partition);
    }
  }
}

void SimNetwork::unblock_all(BlockReason reason) {
  for (Link& l : links_) l.blocked &= ~static_cast<uint8_t>(reason);
}

void SimNetwork::unblock_all() {
  for (Link& l : links_) l.blocked = 0;
}

void SimNetwork::heal_all() {
  for (Link& l : links_) {
    l.blocked = 0;
    l.clogged_until_ns = 0;
  }
}

}  // namespace keel::sim
