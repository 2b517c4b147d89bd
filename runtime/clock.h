#pragma once
// io::Clock and io::Timers of a real process: the kernel's clocks and the loop's timers.

#include <time.h>

#include <cstdint>

#include "io/assert.h"
#include "io/clock.h"
#include "io/timers.h"
#include "runtime/loop.h"

namespace keel::runtime {

class SystemClock final : public io::Clock {
 public:
  uint64_t monotonic_ns() const override { return Loop::monotonic_ns(); }
  int64_t realtime_ns() const override {
    timespec now{};
    const int result = clock_gettime(CLOCK_REALTIME, &now);
    KEEL_ASSERT(result == 0);
    return static_cast<int64_t>(now.tv_sec) * static_cast<int64_t>(io::ns_per_s) + now.tv_nsec;
  }
};

class LoopTimers final : public io::Timers {
 public:
  explicit LoopTimers(Loop& loop) : loop_(loop) {}
  io::TimerId start(uint64_t delay_ns, io::Callback callback) override {
    return loop_.start_timer(delay_ns, std::move(callback));
  }
  bool cancel(io::TimerId timer) override { return loop_.cancel_timer(timer); }

 private:
  Loop& loop_;
};

}  // namespace keel::runtime
