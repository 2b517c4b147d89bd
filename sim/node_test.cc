#include "sim/node.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "io/random.h"
#include "sim/network.h"
#include "sim/world.h"

namespace keel::sim {
namespace {

constexpr uint64_t ms = io::ns_per_ms;

struct Rig {
  explicit Rig(uint64_t seed, std::vector<ClockSettings> clocks = {{}, {}})
      : world(seed, 3, trace), network(world, static_cast<uint32_t>(clocks.size()), profile) {
    profile.latency_min_ns = 1 * ms;
    profile.latency_tail_mean_ns = 0;
    std::vector<SimNode*> attached;
    for (io::NodeId id = 0; id < clocks.size(); id++) {
      nodes.push_back(std::make_unique<SimNode>(world, network, id, 1, clocks[id], 0, nullptr));
      attached.push_back(nodes.back().get());
    }
    network.attach(attached);
  }

  SimNode& node(io::NodeId id = 0) { return *nodes[id]; }
  void run(uint64_t deadline_ns = UINT64_MAX) {
    while (world.step(deadline_ns)) {
    }
  }
  // Runs action at at_ns on the loop itself, outside any node.
  void at(uint64_t at_ns, io::Callback action) {
    world.loop().schedule(at_ns, EventTag{}, std::move(action));
  }

  Trace trace;
  NetworkProfile profile;
  World world;
  SimNetwork network;
  std::vector<std::unique_ptr<SimNode>> nodes;
};

TEST(SimNode, TimerFiresAfterItsDelay) {
  Rig rig(1);
  uint64_t fired_at = 0;
  rig.node().start(7 * ms, [&] { fired_at = rig.world.now_ns(); });
  rig.run();
  EXPECT_EQ(fired_at, 7 * ms);
}

TEST(SimNode, ZeroDelayTimerRunsOnALaterTurnNotInsideStart) {
  Rig rig(2);
  bool fired = false;
  rig.node().start(0, [&] { fired = true; });
  EXPECT_FALSE(fired);
  rig.run();
  EXPECT_TRUE(fired);
  EXPECT_EQ(rig.world.now_ns(), 0u);
}

TEST(SimNode, TimerIdsAreNonZeroAndUniqueAcrossIncarnations) {
  Rig rig(3);
  std::vector<io::TimerId> ids;
  for (int i = 0; i < 5; i++) ids.push_back(rig.node().start(ms, [] {}));
  rig.node().crash();
  rig.node().restart();
  for (int i = 0; i < 5; i++) ids.push_back(rig.node().start(ms, [] {}));
  for (size_t i = 0; i < ids.size(); i++) {
    EXPECT_NE(ids[i], io::timer_id_none);
    for (size_t j = i + 1; j < ids.size(); j++) EXPECT_NE(ids[i], ids[j]);
  }
}

TEST(SimNode, CancelReturnsTrueOnceForAPendingTimer) {
  Rig rig(4);
  bool fired = false;
  const io::TimerId timer = rig.node().start(5 * ms, [&] { fired = true; });
  EXPECT_TRUE(rig.node().cancel(timer));
  EXPECT_FALSE(rig.node().cancel(timer));
  rig.run();
  EXPECT_FALSE(fired);
}

TEST(SimNode, CancelAfterTheTimerFiredReturnsFalse) {
  Rig rig(5);
  const io::TimerId timer = rig.node().start(5 * ms, [] {});
  rig.run();
  EXPECT_FALSE(rig.node().cancel(timer));
  EXPECT_FALSE(rig.node().cancel(io::timer_id_none));
  EXPECT_FALSE(rig.node().cancel(9999));
}

TEST(SimNode, TimerCancellingItselfFromItsCallbackReturnsFalse) {
  Rig rig(6);
  io::TimerId timer = io::timer_id_none;
  bool result = true;
  timer = rig.node().start(ms, [&] { result = rig.node().cancel(timer); });
  rig.run();
  EXPECT_FALSE(result);
}

TEST(SimNode, CancellingOneTimerLeavesTheOthers) {
  Rig rig(7);
  std::vector<int> fired;
  rig.node().start(1 * ms, [&] { fired.push_back(1); });
  const io::TimerId second = rig.node().start(2 * ms, [&] { fired.push_back(2); });
  rig.node().start(3 * ms, [&] { fired.push_back(3); });
  rig.node().cancel(second);
  rig.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
}

TEST(SimNode, CrashDropsPendingTimersAndCallbacksOfTheOldIncarnation) {
  Rig rig(8);
  int old_runs = 0;
  rig.node().start(10 * ms, [&] { old_runs++; });
  rig.node().schedule_after(10 * ms, EventKind::disk_write, [&] { old_runs++; });
  rig.node().start(3 * ms, [&] {
    // A timer that started more timers before the crash.
    rig.node().start(20 * ms, [&] { old_runs++; });
  });
  EXPECT_EQ(rig.node().incarnation(), 0u);
  rig.at(5 * ms, [&] {
    rig.node().crash();
    rig.node().restart();
  });
  bool new_ran = false;
  rig.at(6 * ms, [&] { rig.node().start(10 * ms, [&] { new_ran = true; }); });
  rig.run();
  EXPECT_EQ(old_runs, 0);
  EXPECT_TRUE(new_ran);
  EXPECT_EQ(rig.node().incarnation(), 1u);
  EXPECT_TRUE(rig.node().up());
}

TEST(SimNode, TimerOfTheOldIncarnationCannotBeCancelledAfterACrash) {
  Rig rig(9);
  const io::TimerId timer = rig.node().start(10 * ms, [] {});
  rig.node().crash();
  rig.node().restart();
  EXPECT_FALSE(rig.node().cancel(timer));
}

TEST(SimNode, CrashedNodeDropsDeliveriesAndItsReceiver) {
  Rig rig(10);
  int received = 0;
  rig.node(1).set_receiver([&](io::NodeId, uint16_t, std::span<const uint8_t>) { received++; });
  rig.node(0).send(1, 1, std::vector<uint8_t>{1});
  rig.node(1).crash();
  EXPECT_FALSE(rig.node(1).up());
  rig.run();
  EXPECT_EQ(received, 0);
  rig.node(1).restart();
  rig.node(0).send(1, 1, std::vector<uint8_t>{1});
  rig.run();
  EXPECT_EQ(received, 0);  // The receiver belonged to the crashed incarnation.
}

TEST(SimNode, PauseHoldsTimersAndDeliveriesAndResumeRunsThem) {
  Rig rig(11);
  uint64_t timer_ran_at = 0;
  uint64_t delivered_at = 0;
  std::vector<uint8_t> delivered_body;
  rig.node(1).set_receiver([&](io::NodeId from, uint16_t, std::span<const uint8_t> body) {
    delivered_at = rig.world.now_ns();
    delivered_body.assign(body.begin(), body.end());
  });
  rig.node(1).start(10 * ms, [&] { timer_ran_at = rig.world.now_ns(); });
  rig.at(5 * ms, [&] {
    rig.node(1).pause();
    rig.node(0).send(1, 1, std::vector<uint8_t>{4, 2});
  });
  rig.run(30 * ms);
  EXPECT_TRUE(rig.node(1).paused());
  EXPECT_EQ(timer_ran_at, 0u);
  EXPECT_EQ(delivered_at, 0u);

  rig.at(40 * ms, [&] { rig.node(1).resume(); });
  rig.run();
  EXPECT_FALSE(rig.node(1).paused());
  EXPECT_EQ(timer_ran_at, 40 * ms);
  EXPECT_EQ(delivered_at, 40 * ms);
  EXPECT_EQ(delivered_body, (std::vector<uint8_t>{4, 2}));
}

TEST(SimNode, TimersStartedBeforeAPauseButDueAfterTheResumeRunOnTime) {
  Rig rig(12);
  uint64_t ran_at = 0;
  rig.node().start(50 * ms, [&] { ran_at = rig.world.now_ns(); });
  rig.at(5 * ms, [&] { rig.node().pause(); });
  rig.at(10 * ms, [&] { rig.node().resume(); });
  rig.run();
  EXPECT_EQ(ran_at, 50 * ms);
}

TEST(SimNode, CancellingATimerHeldDuringPauseWorks) {
  Rig rig(13);
  bool fired = false;
  const io::TimerId timer = rig.node().start(10 * ms, [&] { fired = true; });
  rig.at(5 * ms, [&] { rig.node().pause(); });
  rig.run(20 * ms);  // The timer came due while paused and is held.
  EXPECT_TRUE(rig.node().cancel(timer));
  EXPECT_FALSE(rig.node().cancel(timer));
  rig.at(30 * ms, [&] { rig.node().resume(); });
  rig.run();
  EXPECT_FALSE(fired);
}

TEST(SimNode, CancellingAHeldTimerAfterResumeButBeforeItRunsWorks) {
  Rig rig(14);
  bool fired = false;
  const io::TimerId timer = rig.node().start(10 * ms, [&] { fired = true; });
  rig.at(5 * ms, [&] { rig.node().pause(); });
  rig.at(20 * ms, [&] {
    rig.node().resume();
    EXPECT_TRUE(rig.node().cancel(timer));
  });
  rig.run();
  EXPECT_FALSE(fired);
}

TEST(SimNode, CancellingOneHeldTimerLeavesTheOtherHeldOnes) {
  Rig rig(15);
  std::vector<int> fired;
  rig.node().start(10 * ms, [&] { fired.push_back(1); });
  const io::TimerId second = rig.node().start(11 * ms, [&] { fired.push_back(2); });
  rig.node().start(12 * ms, [&] { fired.push_back(3); });
  rig.at(5 * ms, [&] { rig.node().pause(); });
  rig.run(20 * ms);
  EXPECT_TRUE(rig.node().cancel(second));
  rig.at(30 * ms, [&] { rig.node().resume(); });
  rig.run();
  std::sort(fired.begin(), fired.end());
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
}

TEST(SimNode, CrashWhilePausedDropsEverythingHeld) {
  Rig rig(16);
  int runs = 0;
  rig.node(1).set_receiver([&](io::NodeId, uint16_t, std::span<const uint8_t>) { runs++; });
  rig.node(1).start(10 * ms, [&] { runs++; });
  rig.at(5 * ms, [&] {
    rig.node(1).pause();
    rig.node(0).send(1, 1, std::vector<uint8_t>{1});
  });
  rig.run(20 * ms);
  rig.node(1).crash();
  EXPECT_FALSE(rig.node(1).paused());
  rig.node(1).restart();
  rig.run();
  EXPECT_EQ(runs, 0);
}

TEST(SimNode, MonotonicClockWithoutDriftIsSimulatedTime) {
  Rig rig(17);
  rig.at(123 * ms, [] {});
  rig.run();
  EXPECT_EQ(rig.node().monotonic_ns(), 123 * ms);
  EXPECT_EQ(rig.node().realtime_ns(), SimNode::realtime_epoch_ns + static_cast<int64_t>(123 * ms));
}

TEST(SimNode, DriftChangesTheClockRate) {
  Rig rig(18, {ClockSettings{0, 0}, ClockSettings{0, 1000}, ClockSettings{0, -250'000}});
  rig.at(io::ns_per_s, [] {});
  rig.run();
  EXPECT_EQ(rig.node(0).monotonic_ns(), 1'000'000'000u);
  EXPECT_EQ(rig.node(1).monotonic_ns(), 1'001'000'000u);  // +1000 ppm
  EXPECT_EQ(rig.node(2).monotonic_ns(), 750'000'000u);    // -25%
}

TEST(SimNode, MonotonicClockNeverDecreasesWhateverTheDrift) {
  Rig rig(19, {ClockSettings{0, -999'999}, ClockSettings{0, -3}, ClockSettings{0, 7},
               ClockSettings{-5 * static_cast<int64_t>(ms), 500'000}});
  std::vector<uint64_t> last(4, 0);
  int decreases = 0;
  io::Random random(19);
  uint64_t t = 0;
  for (int i = 0; i < 2000; i++) {
    t += random.uniform(3) == 0 ? 0 : 1 + random.uniform(2'000'000);
    rig.at(t, [&, i] {
      for (io::NodeId id = 0; id < 4; id++) {
        const uint64_t now = rig.node(id).monotonic_ns();
        decreases += now < last[id];
        last[id] = now;
      }
      if (i % 100 == 0) rig.node(3).clock_jump(-static_cast<int64_t>(ms));
    });
  }
  rig.run();
  EXPECT_EQ(decreases, 0);
  EXPECT_GT(last[3], 0u);
}

TEST(SimNode, OffsetShiftsRealtimeOnly) {
  Rig rig(20, {ClockSettings{0, 0}, ClockSettings{250 * static_cast<int64_t>(ms), 0}});
  rig.at(10 * ms, [] {});
  rig.run();
  EXPECT_EQ(rig.node(0).monotonic_ns(), rig.node(1).monotonic_ns());
  EXPECT_EQ(rig.node(1).realtime_ns() - rig.node(0).realtime_ns(), 250 * static_cast<int64_t>(ms));
}

TEST(SimNode, ClockJumpMovesRealtimeOnly) {
  Rig rig(21);
  rig.at(10 * ms, [] {});
  rig.run();
  const uint64_t monotonic = rig.node().monotonic_ns();
  const int64_t realtime = rig.node().realtime_ns();
  rig.node().clock_jump(-3 * static_cast<int64_t>(io::ns_per_s));
  EXPECT_EQ(rig.node().monotonic_ns(), monotonic);
  EXPECT_EQ(rig.node().realtime_ns(), realtime - 3 * static_cast<int64_t>(io::ns_per_s));
  rig.node().clock_jump(5 * static_cast<int64_t>(ms));
  EXPECT_EQ(rig.node().realtime_ns(),
            realtime - 3 * static_cast<int64_t>(io::ns_per_s) + 5 * static_cast<int64_t>(ms));
  // Other nodes' clocks are untouched, and timers keep running on simulated time.
  EXPECT_EQ(rig.node(1).realtime_ns(), realtime);
  uint64_t fired_at = 0;
  rig.node().start(2 * ms, [&] { fired_at = rig.world.now_ns(); });
  rig.run();
  EXPECT_EQ(fired_at, 12 * ms);
}

TEST(SimNode, EnvExposesTheNodeAndNoStorageWithoutADisk) {
  Rig rig(22);
  io::Env env = rig.node(1).env();
  EXPECT_EQ(env.bus.self(), 1u);
  EXPECT_EQ(env.storage, nullptr);
  EXPECT_EQ(env.cluster_id, 1u);
  EXPECT_EQ(&env.clock, static_cast<io::Clock*>(&rig.node(1)));
  EXPECT_EQ(&env.timers, static_cast<io::Timers*>(&rig.node(1)));
}

TEST(SimNode, NodesDrawFromDifferentRandomStreams) {
  Rig rig(23);
  io::Random& a = rig.node(0).env().random;
  io::Random& b = rig.node(1).env().random;
  EXPECT_NE(a.next_u64(), b.next_u64());
}

TEST(SimNode, HeldCallbacksRunInOrderOnResume) {
  for (uint64_t seed = 0; seed < 10; seed++) {
    Rig rig(seed);
    std::vector<int> fired;
    for (int i = 0; i < 8; i++) {
      rig.node().start((10 + i) * ms, [&fired, i] { fired.push_back(i); });
    }
    rig.at(5 * ms, [&] { rig.node().pause(); });
    rig.at(30 * ms, [&] { rig.node().resume(); });
    rig.run();
    EXPECT_EQ(fired, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7})) << "seed " << seed;
  }
}

}  // namespace
}  // namespace keel::sim
