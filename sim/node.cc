#include "sim/node.h"

#include "io/frame.h"
#include "sim/disk.h"
#include "sim/network.h"

namespace keel::sim {

SimNode::SimNode(World& world, SimNetwork& network, io::NodeId id, uint64_t cluster_id,
                 ClockSettings clock, uint64_t disk_size_bytes, const DiskProfile* disk_profile)
    : world_(world),
      network_(network),
      id_(id),
      cluster_id_(cluster_id),
      clock_(clock),
      // The node's own stream comes from the run seed and its id alone, so that turning a fault
      // kind on or off never shifts a protocol's random choices.
      random_(io::Random::derive(world.seed() ^ 0x6e6f6465, id)) {
  KEEL_ASSERT(clock.drift_ppm > -1'000'000);
  if (disk_size_bytes > 0) {
    KEEL_ASSERT(disk_profile != nullptr);
    disk_ = std::make_unique<SimDisk>(world, *this, disk_size_bytes, *disk_profile);
  }
}

SimNode::~SimNode() = default;

io::Env SimNode::env() { return io::Env{*this, *this, *this, random_, disk_.get(), cluster_id_}; }

uint64_t SimNode::monotonic_ns() const {
  const uint64_t now = world_.now_ns();
  const __int128 drift = static_cast<__int128>(now) * clock_.drift_ppm / 1'000'000;
  return static_cast<uint64_t>(static_cast<__int128>(now) + drift);
}

int64_t SimNode::realtime_ns() const {
  return realtime_epoch_ns + static_cast<int64_t>(monotonic_ns()) + clock_.offset_ns;
}

io::TimerId SimNode::start(uint64_t delay_ns, io::Callback callback) {
  KEEL_ASSERT(up_);
  const io::TimerId timer = timer_next_++;
  schedule_internal(delay_ns, EventKind::timer, timer, std::move(callback));
  return timer;
}

bool SimNode::cancel(io::TimerId timer) {
  const auto found = timers_pending_.find(timer);
  if (found != timers_pending_.end()) {
    const bool cancelled = world_.loop().cancel(found->second);
    KEEL_ASSERT(cancelled);
    timers_pending_.erase(found);
    return true;
  }
  for (auto it = deferred_.begin(); it != deferred_.end(); ++it) {
    if (it->timer == timer) {
      deferred_.erase(it);
      return true;
    }
  }
  return false;
}

void SimNode::send(io::NodeId to, uint16_t kind, std::span<const uint8_t> body) {
  KEEL_ASSERT(up_ && !paused_);
  send_buffer_.clear();
  io::encode_frame(cluster_id_, kind, body, send_buffer_);
  network_.send(id_, to, send_buffer_);
}

void SimNode::deliver(io::NodeId from, std::vector<uint8_t>& frame) {
  if (!up_) {
    world_.record(TraceKind::drop, from, id_, static_cast<uint64_t>(DropReason::node_down));
    return;
  }
  if (paused_) {
    // A paused process still has its socket buffers: the frame waits, like a timer does.
    deferred_.push_back(
        Deferred{io::timer_id_none, EventKind::deliver,
                 [this, from, frame = std::move(frame)]() mutable { deliver(from, frame); }});
    return;
  }
  const io::DecodedFrame decoded = io::decode_frame(frame, cluster_id_);
  if (decoded.error != io::FrameError::none) {
    frames_rejected_++;
    world_.record(TraceKind::drop, from, id_, static_cast<uint64_t>(DropReason::bad_frame));
    return;
  }
  if (!receiver_) {
    world_.record(TraceKind::drop, from, id_, static_cast<uint64_t>(DropReason::no_receiver));
    return;
  }
  world_.record(TraceKind::deliver, id_, from, frame.size());
  receiver_(from, decoded.header.kind, decoded.body);
}

void SimNode::crash() {
  KEEL_ASSERT(up_);
  up_ = false;
  paused_ = false;
  incarnation_++;
  receiver_ = nullptr;
  timers_pending_.clear();
  deferred_.clear();
  if (disk_) disk_->crash();
}

void SimNode::restart() {
  KEEL_ASSERT(!up_);
  up_ = true;
}

void SimNode::pause() {
  KEEL_ASSERT(up_ && !paused_);
  paused_ = true;
}

void SimNode::resume() {
  KEEL_ASSERT(up_ && paused_);
  paused_ = false;
  if (deferred_.empty()) return;
  // One event runs everything held, in the order it was held: separate events at the same
  // instant would run in tie-break order, and a timer due earlier could fire after a later one.
  const uint64_t incarnation = incarnation_;
  world_.loop().schedule(world_.now_ns(), EventTag{id_, static_cast<uint16_t>(EventKind::resume)},
                         [this, incarnation] {
                           if (incarnation == incarnation_) run_held();
                         });
}

void SimNode::run_held() {
  // Stops if the node is paused again: what is left stays held, ahead of anything newer.
  while (!deferred_.empty() && up_ && !paused_) {
    Deferred item = std::move(deferred_.front());
    deferred_.erase(deferred_.begin());
    item.callback();
  }
}

void SimNode::clock_jump(int64_t delta_ns) { clock_.offset_ns += delta_ns; }

}  // namespace keel::sim
