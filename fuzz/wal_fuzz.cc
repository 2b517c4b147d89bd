// libFuzzer target: the WAL's start-up reader never crashes on any bytes in the journal, and
// every part it calls valid holds a header that verifies, of the slot it was found in.
// Build: cmake --preset fuzz && cmake --build --preset fuzz --target wal_fuzz
// Run:   build/fuzz/fuzz/wal_fuzz fuzz/corpus/wal -max_total_time=60

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "core/vsr/config.h"
#include "core/vsr/header.h"
#include "core/vsr/journal.h"
#include "fuzz/memory_storage.h"
#include "io/assert.h"

namespace {

constexpr uint64_t cluster_id = 0x6b65656c;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using keel::vsr::Journal;
  static const keel::vsr::Config config = keel::fuzz::small_wal_config();
  static const keel::vsr::Layout layout(config);
  // The fuzzer's bytes start at the header ring: the superblock zone before it stays zero.
  std::vector<uint8_t> bytes(layout.total_size_bytes, 0);
  const uint64_t room = layout.checkpoints_offset_bytes - layout.headers_offset_bytes;
  std::memcpy(bytes.data() + layout.headers_offset_bytes, data, size < room ? size : room);
  keel::fuzz::MemoryStorage storage(std::move(bytes));
  Journal journal(config, storage, cluster_id);
  std::optional<std::vector<Journal::SlotRead>> slots;
  journal.read_all([&](std::vector<Journal::SlotRead> result) { slots = std::move(result); });
  storage.run();
  KEEL_ASSERT(slots.has_value() && slots->size() == config.wal_slots);
  for (const Journal::SlotRead& read : *slots) {
    if (read.ring == Journal::Part::valid) {
      KEEL_ASSERT(keel::vsr::header_valid(read.ring_header, cluster_id));
    }
    if (read.prepare == Journal::Part::valid) {
      KEEL_ASSERT(keel::vsr::header_valid(read.prepare_header, cluster_id));
    }
  }
  return 0;
}
