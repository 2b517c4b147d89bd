#pragma once
// One simulated node: its clock, timers and message bus, and its disk if it is a replica.
// Everything a node schedules runs only while the node is up: a crash bumps the node's
// incarnation and every callback of the old incarnation is dropped unrun; a pause holds
// callbacks until the node resumes.

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "io/env.h"
#include "sim/inline_callback.h"
#include "sim/world.h"

namespace keel::sim {

class SimDisk;
class SimNetwork;
struct DiskProfile;

struct ClockSettings {
  int64_t offset_ns = 0;
  int64_t drift_ppm = 0;
};

class SimNode final : public io::Clock, public io::Timers, public io::MessageBus {
 public:
  // Realtime starts at 2026-01-01T00:00:00Z, so that realtime is never near zero.
  static constexpr int64_t realtime_epoch_ns = 1'767'225'600'000'000'000;

  SimNode(World& world, SimNetwork& network, io::NodeId id, uint64_t cluster_id,
          ClockSettings clock, uint64_t disk_size_bytes, const DiskProfile* disk_profile);
  ~SimNode() override;

  io::Env env();
  io::NodeId id() const { return id_; }
  SimDisk* disk() { return disk_.get(); }

  // io::Clock
  uint64_t monotonic_ns() const override;
  int64_t realtime_ns() const override;
  // io::Timers
  io::TimerId start(uint64_t delay_ns, io::Callback callback) override;
  bool cancel(io::TimerId timer) override;
  // io::MessageBus
  io::NodeId self() const override { return id_; }
  void send(io::NodeId to, uint16_t kind, std::span<const uint8_t> body) override;
  void set_receiver(Receiver receiver) override { receiver_ = std::move(receiver); }

  // Lifecycle, driven by the simulator.
  bool up() const { return up_; }
  bool paused() const { return paused_; }
  uint64_t incarnation() const { return incarnation_; }
  // Volatile state is gone: pending callbacks are dropped and unsynced writes are lost or torn.
  void crash();
  void restart();
  void pause();
  void resume();
  void clock_jump(int64_t delta_ns);
  // Sets the node's realtime right (offset 0, jumps undone); its rate error stays.
  void heal_clock() { clock_.offset_ns = 0; }

  // Runs callback (any void() callable) after delay_ns on this node's loop, unless the node
  // crashes first.
  template <typename F>
  void schedule_after(uint64_t delay_ns, EventKind kind, F&& callback) {
    schedule_internal(delay_ns, kind, io::timer_id_none, std::forward<F>(callback));
  }
  // Called by the network when a frame arrives. The frame is taken only if the node holds it
  // (paused); otherwise the network may reuse its buffer.
  void deliver(io::NodeId from, std::vector<uint8_t>& frame);

  uint64_t frames_rejected() const { return frames_rejected_; }

 private:
  struct Deferred {
    io::TimerId timer;
    EventKind kind;
    InlineCallback callback;
  };
  template <typename F>
  void schedule_internal(uint64_t delay_ns, EventKind kind, io::TimerId timer, F&& callback);
  void run_held();

  World& world_;
  SimNetwork& network_;
  const io::NodeId id_;
  const uint64_t cluster_id_;
  ClockSettings clock_;
  io::Random random_;
  std::unique_ptr<SimDisk> disk_;
  Receiver receiver_;
  bool up_ = true;
  bool paused_ = false;
  uint64_t incarnation_ = 0;
  io::TimerId timer_next_ = 1;
  absl::flat_hash_map<io::TimerId, EventLoop::EventId> timers_pending_;
  std::vector<Deferred> deferred_;  // Callbacks held while paused, in the order they were due.
  std::vector<uint8_t> send_buffer_;
  uint64_t frames_rejected_ = 0;
};

template <typename F>
void SimNode::schedule_internal(uint64_t delay_ns, EventKind kind, io::TimerId timer,
                                F&& callback) {
  const uint64_t incarnation = incarnation_;
  const EventLoop::EventId event = world_.loop().schedule(
      world_.now_ns() + delay_ns, EventTag{id_, static_cast<uint16_t>(kind)},
      [this, incarnation, kind, timer, callback = std::forward<F>(callback)]() mutable {
        if (incarnation != incarnation_) return;  // The node crashed since.
        if (timer != io::timer_id_none) timers_pending_.erase(timer);
        if (paused_) {
          deferred_.push_back(Deferred{timer, kind, InlineCallback(std::move(callback))});
          return;
        }
        callback();
      });
  if (timer != io::timer_id_none) timers_pending_[timer] = event;
}

}  // namespace keel::sim
