#include "io/fiber.h"

#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include "io/assert.h"

namespace keel::io {

namespace context = boost::context;

namespace {
Fiber* current_fiber = nullptr;
}

struct Fiber::State {
  context::fiber inner;   // Resumed to run the fiber.
  context::fiber caller;  // Resumed to suspend it.
  bool finished = false;
};

Fiber::Fiber(Callback body, uint64_t stack_size_bytes) : state_(std::make_unique<State>()) {
  KEEL_ASSERT(stack_size_bytes >= 16 * 1024);
  State* state = state_.get();
  state->inner = context::fiber(
      std::allocator_arg, context::fixedsize_stack(stack_size_bytes),
      [state, body = std::move(body)](context::fiber&& caller) mutable {
        state->caller = std::move(caller);
        body();
        state->finished = true;
        return std::move(state->caller);
      });
}

Fiber::~Fiber() {
  // A suspended fiber is unwound by its context's destructor.
  KEEL_ASSERT(current_fiber != this);
}

void Fiber::resume() {
  KEEL_ASSERT(current_fiber == nullptr);
  KEEL_ASSERT(!state_->finished);
  current_fiber = this;
  state_->inner = std::move(state_->inner).resume();
  current_fiber = nullptr;
}

bool Fiber::finished() const { return state_->finished; }

void Fiber::suspend() {
  Fiber* fiber = current_fiber;
  KEEL_ASSERT(fiber != nullptr);
  fiber->state_->caller = std::move(fiber->state_->caller).resume();
  // Resumed: the loop set current_fiber back to us in resume().
  KEEL_ASSERT(current_fiber == fiber);
}

Fiber* Fiber::current() { return current_fiber; }

FiberSignal::~FiberSignal() {
  if (timeout_timer_ != timer_id_none) timers_.cancel(timeout_timer_);
  if (wake_timer_ != timer_id_none) timers_.cancel(wake_timer_);
}

bool FiberSignal::wait(uint64_t timeout_ns) {
  KEEL_ASSERT(waiter_ == nullptr);
  if (set_) return true;
  waiter_ = Fiber::current();
  KEEL_ASSERT(waiter_ != nullptr);
  timeout_timer_ = timers_.start(timeout_ns, [this] {
    timeout_timer_ = timer_id_none;
    wake();
  });
  Fiber::suspend();
  KEEL_ASSERT(waiter_ == nullptr);
  return set_;
}

void FiberSignal::set() {
  if (set_) return;
  set_ = true;
  if (waiter_ == nullptr) return;
  if (timeout_timer_ != timer_id_none) {
    timers_.cancel(timeout_timer_);
    timeout_timer_ = timer_id_none;
  }
  // Resume on a later turn: set() may run deep inside another node's callback.
  wake_timer_ = timers_.start(0, [this] {
    wake_timer_ = timer_id_none;
    wake();
  });
}

void FiberSignal::wake() {
  KEEL_ASSERT(waiter_ != nullptr);
  Fiber* fiber = waiter_;
  waiter_ = nullptr;
  fiber->resume();
}

void sleep_ns(Timers& timers, uint64_t delay_ns) {
  FiberSignal signal(timers);
  signal.wait(delay_ns);
}

}  // namespace keel::io
