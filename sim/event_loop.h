#pragma once
// The discrete-event core: virtual nanosecond time and a priority queue of callbacks. Events at
// the same instant run in the order of a tie-break drawn from the loop's own seeded generator,
// so their order is fixed by the seed and never by pointer values or by which piece of code
// happened to schedule first.

#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "io/random.h"
#include "io/types.h"
#include "sim/inline_callback.h"

namespace keel::sim {

// What the trace knows about an event: whose it is and what kind of thing it does.
struct EventTag {
  uint32_t node = io::node_id_none;
  uint16_t kind = 0;
};

class EventLoop {
 public:
  using EventId = uint64_t;
  static constexpr EventId event_id_none = 0;
  static constexpr uint64_t pending_events_max = 1 << 24;

  explicit EventLoop(uint64_t seed) : random_(io::Random::derive(seed, 0x5c4ed)) {}

  uint64_t now_ns() const { return now_ns_; }
  uint64_t events_run() const { return events_run_; }
  size_t pending() const { return heap_.size(); }

  // at_ns must not be in the past. callback is any void() callable (io::Callback included); it is
  // kept in the event itself, without an allocation unless it is large.
  template <typename F>
  EventId schedule(uint64_t at_ns, EventTag tag, F&& callback);
  // Returns true if the event was pending and now never runs.
  bool cancel(EventId event);

  // Pops and runs the earliest event if it is due at or before deadline_ns. Returns false if
  // none is. observer is called with the event's tag and sequence number just before it runs.
  template <typename Observer>
  bool run_one(uint64_t deadline_ns, Observer&& observer);
  bool run_one(uint64_t deadline_ns = UINT64_MAX) {
    return run_one(deadline_ns, [](EventTag, uint64_t) {});
  }

 private:
  // The heap holds pending events only: a cancelled one leaves it at once (client request
  // timeouts are mostly cancelled, and would otherwise crowd the heap until they fell due).
  struct Entry {
    uint64_t time_ns;
    uint64_t tiebreak;
    uint32_t slot;
  };
  struct Slot {
    InlineCallback callback;
    uint64_t sequence = 0;
    EventTag tag;
    uint32_t generation = 0;  // bumped when the slot is freed, so stale ids cancel nothing
    bool pending = false;
  };
  static bool earlier(const Entry& a, const Entry& b) {
    if (a.time_ns != b.time_ns) return a.time_ns < b.time_ns;
    return a.tiebreak < b.tiebreak;
  }
  // A 4-ary min-heap: half the depth of a binary heap, and the four children of a node share a
  // cache line or two, which matters once the queue outgrows the cache.
  static constexpr size_t heap_arity = 4;
  // Takes a free slot for an event due at at_ns and queues it; the caller fills its callback.
  uint32_t claim_slot(uint64_t at_ns, EventTag tag);
  EventId id_of(uint32_t slot_index) const;
  void place(size_t index, const Entry& entry) {
    heap_[index] = entry;
    heap_index_[entry.slot] = static_cast<uint32_t>(index);
  }
  void sift_up(size_t index);
  void sift_down(size_t index);
  // Takes the entry at index out of the heap and frees its slot.
  void remove(size_t index);

  io::Random random_;
  uint64_t now_ns_ = 0;
  uint64_t sequence_next_ = 1;
  uint64_t events_run_ = 0;
  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  // Per slot, where its entry is in the heap while pending: apart from the slots, which are
  // large, so that sifting touches little memory.
  std::vector<uint32_t> heap_index_;
  std::vector<uint32_t> slots_free_;
};

template <typename F>
EventLoop::EventId EventLoop::schedule(uint64_t at_ns, EventTag tag, F&& callback) {
  if constexpr (std::is_constructible_v<bool, const std::decay_t<F>&>) {
    KEEL_ASSERT(static_cast<bool>(callback));  // an empty io::Callback, say
  }
  const uint32_t slot_index = claim_slot(at_ns, tag);
  slots_[slot_index].callback.emplace(std::forward<F>(callback));
  return id_of(slot_index);
}

template <typename Observer>
bool EventLoop::run_one(uint64_t deadline_ns, Observer&& observer) {
  if (heap_.empty()) return false;
  const Entry top = heap_.front();
  if (top.time_ns > deadline_ns) return false;
  KEEL_ASSERT(top.time_ns >= now_ns_);
  Slot& slot = slots_[top.slot];
  KEEL_ASSERT(slot.pending);
  now_ns_ = top.time_ns;
  // Out of the slot first: the callback may schedule events, which may reuse the slot or grow
  // the slot table.
  InlineCallback callback = std::move(slot.callback);
  const EventTag tag = slot.tag;
  const uint64_t sequence = slot.sequence;
  remove(0);
  events_run_++;
  observer(tag, sequence);
  callback();
  return true;
}

}  // namespace keel::sim
