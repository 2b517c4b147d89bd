#include "sim/event_loop.h"

#include <algorithm>

namespace keel::sim {

EventLoop::EventId EventLoop::schedule(uint64_t at_ns, EventTag tag, io::Callback callback) {
  KEEL_ASSERT(at_ns >= now_ns_);
  KEEL_ASSERT(callback);
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
  slot.callback = std::move(callback);
  slot.sequence = sequence_next_++;
  slot.tag = tag;
  slot.pending = true;
  heap_.push_back(Entry{at_ns, random_.next_u64(), slot_index, slot.generation});
  std::push_heap(heap_.begin(), heap_.end(), later);
  // The id packs slot and generation, so a stale id never cancels a reused slot.
  return (static_cast<uint64_t>(slot.generation) << 32 | slot_index) + 1;
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
  slot.callback = nullptr;
  return true;
}

EventLoop::Entry EventLoop::pop() {
  std::pop_heap(heap_.begin(), heap_.end(), later);
  const Entry entry = heap_.back();
  heap_.pop_back();
  Slot& slot = slots_[entry.slot];
  if (!slot.pending && slot.generation == entry.generation) {
    // A cancelled event: release its slot now that no heap entry refers to it.
    slot.generation++;
    slots_free_.push_back(entry.slot);
  }
  return entry;
}

}  // namespace keel::sim
