// libFuzzer target: the superblock reader never crashes on any bytes in its zone, and what it
// accepts is a state of this cluster and replica that a later open reads back the same.
// Build: cmake --preset fuzz && cmake --build --preset fuzz --target superblock_fuzz
// Run:   build/fuzz/fuzz/superblock_fuzz fuzz/corpus/superblock -max_total_time=60

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/vsr/superblock.h"
#include "fuzz/memory_storage.h"
#include "io/assert.h"

namespace {

constexpr uint64_t cluster_id = 0x6b65656c;
constexpr uint32_t replica = 1;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using keel::vsr::Superblock;
  keel::fuzz::MemoryStorage storage(
      keel::fuzz::device_bytes(data, size, Superblock::zone_size_bytes));
  Superblock superblock(storage, 0, cluster_id, replica);
  std::optional<Superblock::OpenResult> opened;
  superblock.open([&](const Superblock::OpenResult& result) { opened = result; });
  storage.run();
  KEEL_ASSERT(opened.has_value());
  if (!opened->found) return 0;
  KEEL_ASSERT(superblock.state().cluster_id() == cluster_id);
  KEEL_ASSERT(superblock.state().replica() == replica);

  // An accepted state survives a write of its successor and reads back as written.
  keel::vsr::proto::SuperblockState next = superblock.state();
  next.set_view(next.view() + 1);
  std::optional<bool> durable;
  superblock.write(next, [&](bool d) { durable = d; });
  storage.run();
  KEEL_ASSERT(durable == std::optional<bool>(true));
  Superblock again(storage, 0, cluster_id, replica);
  std::optional<Superblock::OpenResult> reopened;
  again.open([&](const Superblock::OpenResult& result) { reopened = result; });
  storage.run();
  KEEL_ASSERT(reopened.has_value() && reopened->found);
  KEEL_ASSERT(again.state().view() == next.view());
  KEEL_ASSERT(reopened->sequence == opened->sequence + 1);
  return 0;
}
