#include "io/fiber.h"

#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include "io/assert.h"

#if defined(__SANITIZE_ADDRESS__)
#define KEEL_FIBER_ASAN 1
#include <sanitizer/common_interface_defs.h>
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEL_FIBER_ASAN 1
#include <sanitizer/common_interface_defs.h>
#endif
#endif

namespace keel::io {

namespace context = boost::context;

namespace {
Fiber* current_fiber = nullptr;

// AddressSanitizer must be told about every switch between stacks, or it reports false stack
// overflows. Debian's Boost.Context (fcontext) does not do it, so we do, around each switch.
struct StackBounds {
  const void* bottom = nullptr;
  size_t size = 0;
};

[[maybe_unused]] void switch_starting(void** fake_stack, StackBounds to) {
#ifdef KEEL_FIBER_ASAN
  __sanitizer_start_switch_fiber(fake_stack, to.bottom, to.size);
#endif
}

[[maybe_unused]] void switch_finished(void* fake_stack, StackBounds* from) {
#ifdef KEEL_FIBER_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, from != nullptr ? &from->bottom : nullptr,
                                  from != nullptr ? &from->size : nullptr);
#endif
}

// A fixed-size stack that remembers where it is, for the sanitizer annotations.
class RecordingStack {
 public:
  RecordingStack(uint64_t size_bytes, StackBounds& bounds) : stack_(size_bytes), bounds_(bounds) {}
  context::stack_context allocate() {
    context::stack_context stack = stack_.allocate();
    bounds_.bottom = static_cast<char*>(stack.sp) - stack.size;
    bounds_.size = stack.size;
    return stack;
  }
  void deallocate(context::stack_context& stack) noexcept { stack_.deallocate(stack); }

 private:
  context::fixedsize_stack stack_;
  StackBounds& bounds_;
};

// Thrown out of suspend() into a fiber that is being destroyed, so that its stack unwinds
// through our own, annotated, switch (not through Boost's unwinding behind the sanitizer's back).
struct FiberCancelled {};

}  // namespace

struct Fiber::State {
  context::fiber inner;   // Resumed to run the fiber.
  context::fiber caller;  // Resumed to suspend it.
  StackBounds fiber_stack;
  StackBounds caller_stack;
  bool cancelling = false;
  bool finished = false;
};

Fiber::Fiber(Callback body, uint64_t stack_size_bytes) : state_(std::make_unique<State>()) {
  KEEL_ASSERT(stack_size_bytes >= 16 * 1024);
  State* state = state_.get();
  state->inner = context::fiber(
      std::allocator_arg, RecordingStack(stack_size_bytes, state->fiber_stack),
      [state, body = std::move(body)](context::fiber&& caller) mutable {
        switch_finished(nullptr, &state->caller_stack);
        state->caller = std::move(caller);
        if (!state->cancelling) {
          try {
            body();
          } catch (const FiberCancelled&) {
            // Destroyed while suspended: the stack has unwound.
          }
        }
        state->finished = true;
        switch_starting(nullptr, state->caller_stack);  // This stack is done for good.
        return std::move(state->caller);
      });
}

Fiber::~Fiber() {
  KEEL_ASSERT(current_fiber != this);
  if (!state_->finished) {
    // The cancelling resume may come from inside another fiber: that one is current again after.
    Fiber* outer = current_fiber;
    current_fiber = nullptr;
    state_->cancelling = true;
    resume();
    current_fiber = outer;
  }
  KEEL_ASSERT(state_->finished);
}

void Fiber::resume() {
  KEEL_ASSERT(current_fiber == nullptr);
  KEEL_ASSERT(!state_->finished);
  current_fiber = this;
  void* fake_stack = nullptr;
  switch_starting(&fake_stack, state_->fiber_stack);
  state_->inner = std::move(state_->inner).resume();
  switch_finished(fake_stack, nullptr);
  current_fiber = nullptr;
}

bool Fiber::finished() const { return state_->finished; }

void Fiber::suspend() {
  Fiber* fiber = current_fiber;
  KEEL_ASSERT(fiber != nullptr);
  void* fake_stack = nullptr;
  switch_starting(&fake_stack, fiber->state_->caller_stack);
  fiber->state_->caller = std::move(fiber->state_->caller).resume();
  switch_finished(fake_stack, &fiber->state_->caller_stack);
  if (fiber->state_->cancelling) throw FiberCancelled{};
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
  // If the waiting fiber is destroyed, suspend() unwinds out of here: nothing may wake it then.
  struct Forget {
    FiberSignal& signal;
    ~Forget() { signal.forget_waiter(); }
  } forget{*this};
  Fiber::suspend();
  KEEL_ASSERT(waiter_ == nullptr);
  return set_;
}

void FiberSignal::forget_waiter() {
  if (timeout_timer_ != timer_id_none) timers_.cancel(timeout_timer_);
  if (wake_timer_ != timer_id_none) timers_.cancel(wake_timer_);
  timeout_timer_ = timer_id_none;
  wake_timer_ = timer_id_none;
  waiter_ = nullptr;
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
