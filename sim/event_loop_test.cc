#include "sim/event_loop.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <vector>

#include "io/random.h"

namespace keel::sim {
namespace {

void run_all(EventLoop& loop) {
  while (loop.run_one()) {
  }
}

// Schedules count events at the same instant and returns the order in which they ran.
std::vector<int> same_time_order(uint64_t seed, int count) {
  EventLoop loop(seed);
  std::vector<int> order;
  for (int i = 0; i < count; i++)
    loop.schedule(100, EventTag{}, [&order, i] { order.push_back(i); });
  run_all(loop);
  return order;
}

TEST(EventLoop, RunsEventsInTimeOrder) {
  EventLoop loop(1);
  std::vector<uint64_t> times;
  for (uint64_t at : {30u, 10u, 50u, 20u, 40u}) {
    loop.schedule(at, EventTag{}, [&times, &loop] { times.push_back(loop.now_ns()); });
  }
  run_all(loop);
  EXPECT_EQ(times, (std::vector<uint64_t>{10, 20, 30, 40, 50}));
  EXPECT_EQ(loop.now_ns(), 50u);
  EXPECT_EQ(loop.events_run(), 5u);
}

TEST(EventLoop, SameTimeOrderIsFixedBySeed) {
  EXPECT_EQ(same_time_order(7, 64), same_time_order(7, 64));
  EXPECT_EQ(same_time_order(12345, 64), same_time_order(12345, 64));
}

TEST(EventLoop, SameTimeOrderDiffersBetweenSeeds) {
  // 64! orders: two seeds giving the same one would mean the tie-break ignores the seed.
  EXPECT_NE(same_time_order(7, 64), same_time_order(8, 64));
  EXPECT_NE(same_time_order(1, 64), same_time_order(2, 64));
}

TEST(EventLoop, SameTimeOrderIsNotInsertionOrder) {
  std::vector<int> insertion(64);
  std::iota(insertion.begin(), insertion.end(), 0);
  std::vector<int> reversed(insertion.rbegin(), insertion.rend());
  for (uint64_t seed : {1u, 7u, 99u}) {
    const std::vector<int> order = same_time_order(seed, 64);
    EXPECT_NE(order, insertion) << "seed " << seed;
    EXPECT_NE(order, reversed) << "seed " << seed;
    // Still every event exactly once.
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, insertion);
  }
}

TEST(EventLoop, TimeNeverGoesBackwardsAndEventsRunAtTheirTime) {
  EventLoop loop(3);
  io::Random random(3);
  uint64_t last_ns = 0;
  int ran = 0;
  int late_or_early = 0;
  int backwards = 0;
  std::function<void(uint64_t)> schedule_at = [&](uint64_t at_ns) {
    loop.schedule(at_ns, EventTag{}, [&, at_ns] {
      ran++;
      if (loop.now_ns() != at_ns) late_or_early++;
      if (loop.now_ns() < last_ns) backwards++;
      last_ns = loop.now_ns();
      // Events schedule more events, some at the current instant.
      if (ran < 2000) {
        for (int i = 0; i < 2; i++) {
          const uint64_t delay = random.chance(0.3) ? 0 : random.uniform(1000);
          schedule_at(loop.now_ns() + delay);
        }
      }
    });
  };
  for (int i = 0; i < 50; i++) schedule_at(random.uniform(1000));
  while (loop.run_one()) {
    if (ran > 5000) break;
  }
  EXPECT_GT(ran, 2000);
  EXPECT_EQ(late_or_early, 0);
  EXPECT_EQ(backwards, 0);
}

TEST(EventLoop, EventScheduledNowFromACallbackRunsAtTheSameTime) {
  EventLoop loop(4);
  uint64_t inner_ran_at = UINT64_MAX;
  loop.schedule(10, EventTag{}, [&] {
    loop.schedule(loop.now_ns(), EventTag{}, [&] { inner_ran_at = loop.now_ns(); });
  });
  run_all(loop);
  EXPECT_EQ(inner_ran_at, 10u);
}

TEST(EventLoop, CancelPreventsTheEventFromRunning) {
  EventLoop loop(5);
  bool a = false;
  bool b = false;
  const EventLoop::EventId id_a = loop.schedule(10, EventTag{}, [&] { a = true; });
  loop.schedule(20, EventTag{}, [&] { b = true; });
  EXPECT_NE(id_a, EventLoop::event_id_none);
  EXPECT_TRUE(loop.cancel(id_a));
  run_all(loop);
  EXPECT_FALSE(a);
  EXPECT_TRUE(b);
  EXPECT_EQ(loop.events_run(), 1u);
}

TEST(EventLoop, CancellingTwiceReturnsFalse) {
  EventLoop loop(6);
  const EventLoop::EventId id = loop.schedule(10, EventTag{}, [] {});
  EXPECT_TRUE(loop.cancel(id));
  EXPECT_FALSE(loop.cancel(id));
}

TEST(EventLoop, CancellingARunEventOrANonexistentOneReturnsFalse) {
  EventLoop loop(7);
  const EventLoop::EventId id = loop.schedule(10, EventTag{}, [] {});
  run_all(loop);
  EXPECT_FALSE(loop.cancel(id));
  EXPECT_FALSE(loop.cancel(EventLoop::event_id_none));
  EXPECT_FALSE(loop.cancel(uint64_t{12345} << 32 | 77));
}

TEST(EventLoop, CancellingTheRunningEventFromItsOwnCallbackReturnsFalse) {
  EventLoop loop(8);
  EventLoop::EventId id = EventLoop::event_id_none;
  bool cancelled = true;
  id = loop.schedule(10, EventTag{}, [&] { cancelled = loop.cancel(id); });
  run_all(loop);
  EXPECT_FALSE(cancelled);
}

TEST(EventLoop, CancelReleasesTheCallbackAtOnce) {
  EventLoop loop(9);
  auto held = std::make_shared<int>(0);
  const EventLoop::EventId id = loop.schedule(10, EventTag{}, [held] {});
  EXPECT_EQ(held.use_count(), 2);
  loop.cancel(id);
  EXPECT_EQ(held.use_count(), 1);
}

TEST(EventLoop, StaleIdAfterSlotReuseDoesNotCancelTheNewEvent) {
  EventLoop loop(10);
  const EventLoop::EventId first = loop.schedule(10, EventTag{}, [] {});
  run_all(loop);  // Frees the slot.
  bool second_ran = false;
  const EventLoop::EventId second = loop.schedule(20, EventTag{}, [&] { second_ran = true; });
  EXPECT_NE(first, second);
  EXPECT_FALSE(loop.cancel(first));
  run_all(loop);
  EXPECT_TRUE(second_ran);
}

TEST(EventLoop, StaleIdOfACancelledEventDoesNotCancelTheEventReusingItsSlot) {
  EventLoop loop(11);
  const EventLoop::EventId first = loop.schedule(10, EventTag{}, [] {});
  ASSERT_TRUE(loop.cancel(first));
  // The cancelled entry is popped (freeing its slot) when the loop passes it.
  loop.schedule(15, EventTag{}, [] {});
  run_all(loop);
  bool reused_ran = false;
  std::vector<EventLoop::EventId> ids;
  for (int i = 0; i < 4; i++) {
    ids.push_back(loop.schedule(20, EventTag{}, [&] { reused_ran = true; }));
  }
  for (EventLoop::EventId id : ids) EXPECT_NE(id, first);
  EXPECT_FALSE(loop.cancel(first));
  run_all(loop);
  EXPECT_TRUE(reused_ran);
  EXPECT_EQ(loop.events_run(), 5u);
}

TEST(EventLoop, CancelledButUnpoppedEventDoesNotBlockNewEvents) {
  EventLoop loop(12);
  bool cancelled_ran = false;
  const EventLoop::EventId cancelled = loop.schedule(50, EventTag{}, [&] { cancelled_ran = true; });
  ASSERT_TRUE(loop.cancel(cancelled));
  std::vector<uint64_t> ran;
  for (uint64_t at : {60u, 40u, 50u}) {
    loop.schedule(at, EventTag{}, [&ran, at] { ran.push_back(at); });
  }
  run_all(loop);
  EXPECT_FALSE(cancelled_ran);
  EXPECT_EQ(ran, (std::vector<uint64_t>{40, 50, 60}));
}

TEST(EventLoop, ManyInterleavedSchedulesAndCancelsRunExactlyTheUncancelled) {
  EventLoop loop(13);
  io::Random random(13);
  std::vector<EventLoop::EventId> ids;
  std::vector<bool> cancelled;
  std::vector<int> runs;
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 50; i++) {
      const size_t index = ids.size();
      runs.push_back(0);
      cancelled.push_back(false);
      ids.push_back(loop.schedule(loop.now_ns() + random.uniform(100), EventTag{},
                                  [&runs, index] { runs[index]++; }));
    }
    for (int i = 0; i < 20; i++) {
      const size_t victim = random.uniform(ids.size());
      const bool result = loop.cancel(ids[victim]);
      // Only a pending event that was not cancelled before can be cancelled.
      if (result) {
        EXPECT_FALSE(cancelled[victim]);
        EXPECT_EQ(runs[victim], 0);
        cancelled[victim] = true;
      }
    }
    for (int i = 0; i < 30; i++) loop.run_one();
  }
  run_all(loop);
  for (size_t i = 0; i < ids.size(); i++) {
    EXPECT_EQ(runs[i], cancelled[i] ? 0 : 1) << "event " << i;
  }
}

TEST(EventLoop, RunOneDoesNotRunEventsAfterTheDeadline) {
  EventLoop loop(14);
  std::vector<int> ran;
  loop.schedule(10, EventTag{}, [&] { ran.push_back(10); });
  loop.schedule(20, EventTag{}, [&] { ran.push_back(20); });
  EXPECT_TRUE(loop.run_one(15));
  EXPECT_FALSE(loop.run_one(15));
  EXPECT_EQ(ran, (std::vector<int>{10}));
  EXPECT_EQ(loop.now_ns(), 10u);  // Time does not advance to the deadline.
  EXPECT_FALSE(loop.run_one(19));
  EXPECT_TRUE(loop.run_one(20));  // The deadline itself is included.
  EXPECT_EQ(ran, (std::vector<int>{10, 20}));
  EXPECT_FALSE(loop.run_one(UINT64_MAX));
}

TEST(EventLoop, RunOneSkipsCancelledEventsBeforeTheDeadlineWithoutRunningLaterOnes) {
  EventLoop loop(15);
  bool late_ran = false;
  const EventLoop::EventId early = loop.schedule(5, EventTag{}, [] {});
  loop.schedule(20, EventTag{}, [&] { late_ran = true; });
  loop.cancel(early);
  EXPECT_FALSE(loop.run_one(10));
  EXPECT_FALSE(late_ran);
  EXPECT_EQ(loop.events_run(), 0u);
  EXPECT_TRUE(loop.run_one(20));
  EXPECT_TRUE(late_ran);
}

TEST(EventLoop, ObserverSeesTagAndSchedulingSequenceBeforeTheCallback) {
  EventLoop loop(16);
  std::vector<std::pair<uint32_t, uint64_t>> observed;
  bool callback_ran_before_observer = false;
  bool ran = false;
  loop.schedule(20, EventTag{3, 9}, [&] { ran = true; });
  loop.schedule(10, EventTag{4, 2}, [] {});
  auto observer = [&](EventTag tag, uint64_t sequence) {
    callback_ran_before_observer |= ran;
    observed.push_back({tag.node * 100 + tag.kind, sequence});
  };
  while (loop.run_one(UINT64_MAX, observer)) {
  }
  // Sequence numbers count schedule() calls, so they name events independently of run order.
  EXPECT_EQ(observed, (std::vector<std::pair<uint32_t, uint64_t>>{{402, 2}, {309, 1}}));
  EXPECT_FALSE(callback_ran_before_observer);
}

TEST(EventLoop, PendingCountsScheduledEvents) {
  EventLoop loop(17);
  EXPECT_EQ(loop.pending(), 0u);
  loop.schedule(1, EventTag{}, [] {});
  loop.schedule(2, EventTag{}, [] {});
  EXPECT_EQ(loop.pending(), 2u);
  loop.run_one();
  EXPECT_EQ(loop.pending(), 1u);
}

TEST(EventLoop, ACancelledEventLeavesAtOnceAndTheRestKeepTheirOrder) {
  EventLoop loop(19);
  std::vector<int> ran;
  std::vector<EventLoop::EventId> ids;
  for (int i = 0; i < 20; i++) {
    ids.push_back(
        loop.schedule(static_cast<uint64_t>(100 - i), EventTag{}, [&ran, i] { ran.push_back(i); }));
  }
  for (int i = 0; i < 20; i += 3) EXPECT_TRUE(loop.cancel(ids[static_cast<size_t>(i)]));
  EXPECT_EQ(loop.pending(), 13u);
  EXPECT_FALSE(loop.cancel(ids[0]));  // twice
  while (loop.run_one()) {
  }
  std::vector<int> expected;
  for (int i = 19; i >= 0; i--) {
    if (i % 3 != 0) expected.push_back(i);
  }
  EXPECT_EQ(ran, expected);
}

TEST(EventLoopDeathTest, SchedulingInThePastIsRefused) {
  EventLoop loop(18);
  loop.schedule(100, EventTag{}, [] {});
  loop.run_one();
  EXPECT_DEATH(loop.schedule(99, EventTag{}, [] {}), "at_ns >= now_ns_");
}

}  // namespace
}  // namespace keel::sim
