#pragma once
// A move-only void() callable kept in place, for the simulator's pending events. A run executes
// millions of events, and a heap allocation per closure (io::Callback keeps only 16 bytes in
// place) was a large part of each event's cost. A callable larger than the storage still works:
// it is kept on the heap.

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "io/assert.h"

namespace keel::sim {

class InlineCallback {
 public:
  // Room for a disk completion (device, offset, data buffer and the caller's io::IoCallback)
  // inside a node's wrapper (node, incarnation, kind, timer).
  static constexpr size_t storage_bytes = 128;

  InlineCallback() = default;
  template <typename F>
  requires(!std::is_same_v<std::decay_t<F>, InlineCallback> &&
           std::is_invocable_r_v<void, std::decay_t<F>&>)
      InlineCallback(
          F&& callable) {  // NOLINT(google-explicit-constructor): a callback is a callable
    emplace(std::forward<F>(callable));
  }
  InlineCallback(InlineCallback&& other) noexcept { take(other); }
  InlineCallback& operator=(InlineCallback&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  InlineCallback(const InlineCallback&) = delete;
  InlineCallback& operator=(const InlineCallback&) = delete;
  ~InlineCallback() { reset(); }

  // Replaces the callable with this one, built in place.
  template <typename F>
  void emplace(F&& callable) {
    reset();
    using T = std::decay_t<F>;
    if constexpr (fits<T>()) {
      ::new (static_cast<void*>(storage_)) T(std::forward<F>(callable));
      ops_ = &ops_for<T>;
    } else {
      ::new (static_cast<void*>(storage_))
          OnHeap<T>{std::make_unique<T>(std::forward<F>(callable))};
      ops_ = &ops_for<OnHeap<T>>;
    }
  }

  explicit operator bool() const { return ops_ != nullptr; }
  void operator()() {
    KEEL_ASSERT(ops_ != nullptr);
    ops_->call(storage_);
  }
  void reset() {
    if (ops_ == nullptr) return;
    ops_->destroy(storage_);
    ops_ = nullptr;
  }

 private:
  struct Ops {
    void (*call)(void* self);
    void (*move_to)(void* from, void* to);  // move-constructs at to, destroys from
    void (*destroy)(void* self);
  };
  template <typename T>
  struct OnHeap {
    std::unique_ptr<T> callable;
    void operator()() { (*callable)(); }
  };
  template <typename T>
  static constexpr bool fits() {
    return sizeof(T) <= storage_bytes && alignof(T) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<T>;
  }
  template <typename T>
  static constexpr Ops ops_for = {
      [](void* self) { (*static_cast<T*>(self))(); },
      [](void* from, void* to) {
        ::new (to) T(std::move(*static_cast<T*>(from)));
        static_cast<T*>(from)->~T();
      },
      [](void* self) { static_cast<T*>(self)->~T(); },
  };

  void take(InlineCallback& other) {
    if (other.ops_ == nullptr) return;
    other.ops_->move_to(other.storage_, storage_);
    ops_ = other.ops_;
    other.ops_ = nullptr;
  }

  alignas(std::max_align_t) unsigned char storage_[storage_bytes];
  const Ops* ops_ = nullptr;
};

}  // namespace keel::sim
