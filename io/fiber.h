#pragma once
// Fibers let straight-line code (client workloads, scenario scripts, connection handlers) wait
// for completions on a node's single-threaded event loop. Protocol code does not use them: it
// stays an event-driven state machine.
//
// A fiber runs only when the loop resumes it; it gives control back by waiting. Everything
// runs on one thread, so a fiber needs no locks, and the order of resumptions is the loop's,
// which keeps the simulator deterministic.

#include <cstdint>
#include <memory>

#include "io/timers.h"
#include "io/types.h"

namespace keel::io {

class Fiber {
 public:
  static constexpr uint64_t stack_size_bytes_default = 64 * 1024;

  explicit Fiber(Callback body, uint64_t stack_size_bytes = stack_size_bytes_default);
  // Destroying a suspended fiber unwinds its stack (destructors run); the body must not
  // swallow that unwinding with catch (...).
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Runs the fiber until it suspends or finishes. Not from inside a fiber.
  void resume();
  bool finished() const;

  // Gives control back to whoever resumed the current fiber. Only from inside a fiber.
  static void suspend();
  // The fiber running now, or nullptr on the loop itself.
  static Fiber* current();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A one-shot wake-up for the fiber that waits on it, set from a callback on the loop.
class FiberSignal {
 public:
  explicit FiberSignal(Timers& timers) : timers_(timers) {}
  ~FiberSignal();
  FiberSignal(const FiberSignal&) = delete;
  FiberSignal& operator=(const FiberSignal&) = delete;

  // Suspends the calling fiber until set() is called or timeout_ns passes. Returns true if set.
  // Returns at once if set() was already called.
  bool wait(uint64_t timeout_ns);
  // Wakes the waiting fiber on a later turn of the loop. Idempotent.
  void set();
  bool is_set() const { return set_; }

 private:
  void wake();
  void forget_waiter();

  Timers& timers_;
  Fiber* waiter_ = nullptr;
  TimerId timeout_timer_ = timer_id_none;
  TimerId wake_timer_ = timer_id_none;
  bool set_ = false;
};

// Suspends the calling fiber for delay_ns.
void sleep_ns(Timers& timers, uint64_t delay_ns);

}  // namespace keel::io
