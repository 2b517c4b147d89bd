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
    heap_index_.push_back(0);
  } else {
    slot_index = slots_free_.back();
    slots_free_.pop_back();
  }
  Slot& slot = slots_[slot_index];
  KEEL_ASSERT(!slot.pending);
  slot.sequence = sequence_next_++;
  slot.tag = tag;
  slot.pending = true;
  heap_.push_back(Entry{at_ns, random_.next_u64(), slot_index});
  place(heap_.size() - 1, heap_.back());
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
  slot.callback.reset();
  remove(heap_index_[slot_index]);
  return true;
}

void EventLoop::sift_up(size_t index) {
  const Entry entry = heap_[index];
  while (index > 0) {
    const size_t parent = (index - 1) / heap_arity;
    if (!earlier(entry, heap_[parent])) break;
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, entry);
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
    place(index, heap_[best]);
    index = best;
  }
  place(index, entry);
}

void EventLoop::remove(size_t index) {
  KEEL_ASSERT(index < heap_.size());
  const uint32_t slot_index = heap_[index].slot;
  const Entry last = heap_.back();
  heap_.pop_back();
  if (index < heap_.size()) {
    place(index, last);
    // The moved entry may belong above or below its new place.
    if (index > 0 && earlier(last, heap_[(index - 1) / heap_arity])) {
      sift_up(index);
    } else {
      sift_down(index);
    }
  }
  Slot& slot = slots_[slot_index];
  KEEL_ASSERT(slot.pending);
  slot.pending = false;
  slot.generation++;
  slots_free_.push_back(slot_index);
}

}  // namespace keel::sim
