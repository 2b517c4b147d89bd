#include "sim/event_loop.h"

#include <algorithm>

namespace keel::sim {

uint32_t EventLoop::claim_slot(uint64_t at_ns, EventTag tag) {
  KEEL_ASSERT(at_ns >= now_ns_);
  KEEL_ASSERT(heap_.size() < pending_events_max);
  uint32_t slot_index;
  if (slots_free_.empty()) {
    slot_index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot_index = slots_free_.back();
    slots_free_.pop_back();
  }
  Slot& slot = slots_[slot_index];
  KEEL_ASSERT(!slot.pending);
  slot.sequence = sequence_next_++;
  slot.tag = tag;
  slot.pending = true;
  heap_.push_back(Entry{at_ns, random_.next_u64(), slot_index, slot.generation});
  sift_up(heap_.size() - 1);
  return slot_index;
}

// The id packs slot and generation, so a stale id never cancels a reused slot.
EventLoop::EventId EventLoop::id_of(uint32_t slot_index) const {
  return (static_cast<uint64_t>(slots_[slot_index].generation) << 32 | slot_index) + 1;
}

bool EventLoop::cancel(EventId event) {
  if (event == event_id_none) return false;
  const uint64_t packed = event - 1;
  const uint32_t slot_index = static_cast<uint32_t>(packed);
  const uint32_t generation = static_cast<uint32_t>(packed >> 32);
  if (slot_index >= slots_.size()) return false;
  Slot& slot = slots_[slot_index];
  if (!slot.pending || slot.generation != generation) return false;
  // The heap entry stays and is skipped when popped; the slot is freed then, not now, so its
  // generation still tells the entry apart from a later event in the same slot.
  slot.pending = false;
  slot.callback.reset();
  return true;
}

void EventLoop::sift_up(size_t index) {
  const Entry entry = heap_[index];
  while (index > 0) {
    const size_t parent = (index - 1) / heap_arity;
    if (!earlier(entry, heap_[parent])) break;
    heap_[index] = heap_[parent];
    index = parent;
  }
  heap_[index] = entry;
}

void EventLoop::sift_down(size_t index) {
  const size_t size = heap_.size();
  const Entry entry = heap_[index];
  while (true) {
    const size_t first = index * heap_arity + 1;
    if (first >= size) break;
    const size_t last = std::min(first + heap_arity, size);
    size_t best = first;
    for (size_t child = first + 1; child < last; child++) {
      if (earlier(heap_[child], heap_[best])) best = child;
    }
    if (!earlier(heap_[best], entry)) break;
    heap_[index] = heap_[best];
    index = best;
  }
  heap_[index] = entry;
}

EventLoop::Entry EventLoop::pop() {
  KEEL_ASSERT(!heap_.empty());
  const Entry entry = heap_.front();
  heap_.front() = heap_.back();
  heap_.pop_back();
  if (!heap_.empty()) sift_down(0);
  Slot& slot = slots_[entry.slot];
  if (!slot.pending && slot.generation == entry.generation) {
    // A cancelled event: release its slot now that no heap entry refers to it.
    slot.generation++;
    slots_free_.push_back(entry.slot);
  }
  return entry;
}

}  // namespace keel::sim
