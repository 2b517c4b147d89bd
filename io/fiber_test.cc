#include "io/fiber.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "io/timers.h"
#include "sim/event_loop.h"

namespace keel::io {
namespace {

// One-shot timers on a bare sim::EventLoop: the smallest io::Timers a fiber can wait on.
class LoopTimers final : public Timers {
 public:
  explicit LoopTimers(uint64_t seed) : loop_(seed) {}

  sim::EventLoop& loop() { return loop_; }
  uint64_t now_ns() const { return loop_.now_ns(); }
  size_t timers_pending() const { return pending_.size(); }
  void run() {
    while (loop_.run_one()) {
    }
  }

  TimerId start(uint64_t delay_ns, Callback callback) override {
    const TimerId timer = next_++;
    pending_[timer] = loop_.schedule(loop_.now_ns() + delay_ns, sim::EventTag{},
                                     [this, timer, callback = std::move(callback)]() mutable {
                                       pending_.erase(timer);
                                       callback();
                                     });
    return timer;
  }

  bool cancel(TimerId timer) override {
    const auto found = pending_.find(timer);
    if (found == pending_.end()) return false;
    const bool cancelled = loop_.cancel(found->second);
    pending_.erase(found);
    return cancelled;
  }

 private:
  sim::EventLoop loop_;
  TimerId next_ = 1;
  absl::flat_hash_map<TimerId, sim::EventLoop::EventId> pending_;
};

TEST(Fiber, DoesNotRunUntilResumed) {
  bool ran = false;
  Fiber fiber([&] { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_FALSE(fiber.finished());
  fiber.resume();
  EXPECT_TRUE(ran);
  EXPECT_TRUE(fiber.finished());
}

TEST(Fiber, RunsUntilSuspendAndResumesWhereItLeftOff) {
  std::vector<int> steps;
  Fiber fiber([&] {
    int local = 10;  // Lives on the fiber's stack across suspensions.
    steps.push_back(local++);
    Fiber::suspend();
    steps.push_back(local++);
    Fiber::suspend();
    steps.push_back(local++);
  });
  fiber.resume();
  EXPECT_EQ(steps, (std::vector<int>{10}));
  EXPECT_FALSE(fiber.finished());
  fiber.resume();
  EXPECT_EQ(steps, (std::vector<int>{10, 11}));
  EXPECT_FALSE(fiber.finished());
  fiber.resume();
  EXPECT_EQ(steps, (std::vector<int>{10, 11, 12}));
  EXPECT_TRUE(fiber.finished());
}

TEST(Fiber, CurrentIsTheRunningFiberAndNullOnTheLoop) {
  EXPECT_EQ(Fiber::current(), nullptr);
  Fiber* seen_first = nullptr;
  Fiber* seen_after_resume = nullptr;
  Fiber fiber([&] {
    seen_first = Fiber::current();
    Fiber::suspend();
    seen_after_resume = Fiber::current();
  });
  fiber.resume();
  EXPECT_EQ(seen_first, &fiber);
  EXPECT_EQ(Fiber::current(), nullptr);
  fiber.resume();
  EXPECT_EQ(seen_after_resume, &fiber);
  EXPECT_EQ(Fiber::current(), nullptr);
}

TEST(Fiber, TwoFibersInterleaveOnlyAtSuspensions) {
  std::vector<char> trace;
  Fiber a([&] {
    trace.push_back('a');
    Fiber::suspend();
    trace.push_back('A');
  });
  Fiber b([&] {
    trace.push_back('b');
    Fiber::suspend();
    trace.push_back('B');
  });
  a.resume();
  b.resume();
  b.resume();
  a.resume();
  EXPECT_EQ(trace, (std::vector<char>{'a', 'b', 'B', 'A'}));
  EXPECT_TRUE(a.finished());
  EXPECT_TRUE(b.finished());
}

struct SetOnDestroy {
  bool* flag;
  ~SetOnDestroy() { *flag = true; }
};

TEST(Fiber, DestroyingASuspendedFiberRunsDestructorsOnItsStack) {
  bool destroyed = false;
  bool ran_past_suspend = false;
  {
    Fiber fiber([&] {
      SetOnDestroy guard{&destroyed};
      Fiber::suspend();
      ran_past_suspend = true;
    });
    fiber.resume();
    EXPECT_FALSE(destroyed);
    EXPECT_FALSE(fiber.finished());
  }
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(ran_past_suspend);
  EXPECT_EQ(Fiber::current(), nullptr);
}

TEST(Fiber, DestroyingAnUnstartedFiberNeverRunsItsBodyButReleasesItsCaptures) {
  auto resource = std::make_shared<int>(1);
  bool ran = false;
  {
    Fiber fiber([&ran, held = resource] { ran = *held == 1; });
    EXPECT_EQ(resource.use_count(), 2);
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(resource.use_count(), 1);
}

TEST(FiberSignal, WaitReturnsTrueWhenSetFromATimerCallback) {
  LoopTimers timers(1);
  FiberSignal signal(timers);
  bool result = false;
  uint64_t woke_at_ns = 0;
  Fiber fiber([&] {
    result = signal.wait(10 * ns_per_ms);
    woke_at_ns = timers.now_ns();
  });
  fiber.resume();
  EXPECT_FALSE(fiber.finished());
  timers.start(3 * ns_per_ms, [&] { signal.set(); });
  timers.run();
  EXPECT_TRUE(fiber.finished());
  EXPECT_TRUE(result);
  EXPECT_TRUE(signal.is_set());
  // Woken by the set, not by the timeout, and the timeout timer is gone.
  EXPECT_EQ(woke_at_ns, 3 * ns_per_ms);
  EXPECT_EQ(timers.timers_pending(), 0u);
  EXPECT_EQ(timers.now_ns(), 3 * ns_per_ms);
}

TEST(FiberSignal, SetWakesTheFiberOnALaterTurnNotInsideSet) {
  LoopTimers timers(2);
  FiberSignal signal(timers);
  bool woke = false;
  Fiber fiber([&] {
    signal.wait(10 * ns_per_ms);
    woke = true;
  });
  fiber.resume();
  bool woke_inside_set = true;
  timers.start(1 * ns_per_ms, [&] {
    signal.set();
    woke_inside_set = woke;
  });
  timers.run();
  EXPECT_FALSE(woke_inside_set);
  EXPECT_TRUE(woke);
}

TEST(FiberSignal, WaitReturnsFalseOnTimeout) {
  LoopTimers timers(3);
  FiberSignal signal(timers);
  bool result = true;
  uint64_t woke_at_ns = 0;
  Fiber fiber([&] {
    result = signal.wait(5 * ns_per_ms);
    woke_at_ns = timers.now_ns();
  });
  fiber.resume();
  timers.run();
  EXPECT_TRUE(fiber.finished());
  EXPECT_FALSE(result);
  EXPECT_FALSE(signal.is_set());
  EXPECT_EQ(woke_at_ns, 5 * ns_per_ms);
}

TEST(FiberSignal, SetAfterTimeoutDoesNotResumeTheFiberAgain) {
  LoopTimers timers(4);
  FiberSignal signal(timers);
  int wakes = 0;
  Fiber fiber([&] {
    signal.wait(1 * ns_per_ms);
    wakes++;
  });
  fiber.resume();
  timers.start(2 * ns_per_ms, [&] { signal.set(); });
  timers.run();
  EXPECT_EQ(wakes, 1);
  EXPECT_TRUE(signal.is_set());
}

TEST(FiberSignal, WaitReturnsAtOnceIfAlreadySet) {
  LoopTimers timers(5);
  FiberSignal signal(timers);
  signal.set();
  bool result = false;
  Fiber fiber([&] { result = signal.wait(10 * ns_per_ms); });
  fiber.resume();
  // No suspension: finished within the one resume, and nothing was scheduled.
  EXPECT_TRUE(fiber.finished());
  EXPECT_TRUE(result);
  EXPECT_EQ(timers.timers_pending(), 0u);
}

TEST(FiberSignal, SettingTwiceWakesTheFiberOnce) {
  LoopTimers timers(6);
  FiberSignal signal(timers);
  int wakes = 0;
  Fiber fiber([&] {
    EXPECT_TRUE(signal.wait(10 * ns_per_ms));
    wakes++;
  });
  fiber.resume();
  timers.start(1 * ns_per_ms, [&] {
    signal.set();
    signal.set();
  });
  timers.run();
  EXPECT_EQ(wakes, 1);
  EXPECT_TRUE(fiber.finished());
}

TEST(FiberSignal, DestroyingASignalCancelsItsTimers) {
  LoopTimers timers(7);
  {
    FiberSignal signal(timers);
    Fiber fiber([&] { signal.wait(10 * ns_per_ms); });
    fiber.resume();
    EXPECT_EQ(timers.timers_pending(), 1u);
    // The fiber is destroyed first (declared last), unwinding out of wait().
  }
  EXPECT_EQ(timers.timers_pending(), 0u);
  timers.run();  // Would resume a destroyed fiber if the timeout were still pending.
  EXPECT_EQ(timers.loop().events_run(), 0u);
}

TEST(SleepNs, SuspendsForExactlyTheDelay) {
  LoopTimers timers(8);
  std::vector<uint64_t> times;
  Fiber fiber([&] {
    times.push_back(timers.now_ns());
    sleep_ns(timers, 7 * ns_per_ms);
    times.push_back(timers.now_ns());
    sleep_ns(timers, 0);
    times.push_back(timers.now_ns());
    sleep_ns(timers, 2 * ns_per_ms);
    times.push_back(timers.now_ns());
  });
  fiber.resume();
  EXPECT_EQ(times.size(), 1u);  // sleep_ns(0) too gives control back to the loop.
  timers.run();
  EXPECT_TRUE(fiber.finished());
  EXPECT_EQ(times, (std::vector<uint64_t>{0, 7 * ns_per_ms, 7 * ns_per_ms, 9 * ns_per_ms}));
}

TEST(SleepNs, FibersWakeInOrderOfTheirDeadlines) {
  LoopTimers timers(9);
  std::vector<int> woke;
  std::vector<std::unique_ptr<Fiber>> fibers;
  const uint64_t delays_ms[] = {30, 10, 20, 5};
  for (int i = 0; i < 4; i++) {
    fibers.push_back(std::make_unique<Fiber>([&, i] {
      sleep_ns(timers, delays_ms[i] * ns_per_ms);
      woke.push_back(i);
    }));
    fibers.back()->resume();
  }
  timers.run();
  EXPECT_EQ(woke, (std::vector<int>{3, 1, 2, 0}));
}

TEST(SleepNs, DestroyingASleepingFiberRunsItsDestructorsAndCancelsTheTimer) {
  LoopTimers timers(10);
  bool destroyed = false;
  bool woke = false;
  {
    Fiber fiber([&] {
      SetOnDestroy guard{&destroyed};
      sleep_ns(timers, 5 * ns_per_ms);
      woke = true;
    });
    fiber.resume();
    EXPECT_EQ(timers.timers_pending(), 1u);
  }
  EXPECT_TRUE(destroyed);
  EXPECT_EQ(timers.timers_pending(), 0u);
  timers.run();
  EXPECT_FALSE(woke);
}

TEST(FiberSignal, SignalOutlivingADestroyedWaiterNeverResumesIt) {
  LoopTimers timers(11);
  FiberSignal signal(timers);
  {
    Fiber fiber([&] { signal.wait(10 * ns_per_ms); });
    fiber.resume();
  }
  timers.run();
  signal.set();
  timers.run();
  EXPECT_TRUE(signal.is_set());
}

TEST(Fiber, DestroyingASuspendedFiberFromInsideAnotherFiber) {
  bool destroyed = false;
  auto child = std::make_unique<Fiber>([&] {
    SetOnDestroy guard{&destroyed};
    Fiber::suspend();
  });
  child->resume();
  Fiber parent([&] {
    child.reset();
    EXPECT_EQ(Fiber::current(), &parent);
  });
  parent.resume();
  EXPECT_TRUE(destroyed);
  EXPECT_TRUE(parent.finished());
}

TEST(Fiber, DestroyingAnUnstartedFiberFromInsideAnotherFiber) {
  Fiber parent([&] { Fiber child([] {}); });
  parent.resume();
  EXPECT_TRUE(parent.finished());
}

}  // namespace
}  // namespace keel::io
