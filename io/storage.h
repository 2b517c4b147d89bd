#pragma once
// The block device contract (docs/architecture.md, "Durability contract"):
// - A write is durable only once a sync issued after its completion has completed.
// - A crash may lose any unsynced write, or tear it (some sectors, or part of a sector, land).
// - A read may return corrupt data (caught by the caller's checksums) or IoStatus::error.
// Both the simulator and the runtime keep exactly this contract.

#include <cstdint>
#include <span>

#include "io/types.h"

namespace keel::io {

class BlockStorage {
 public:
  static constexpr uint64_t sector_size_bytes = 4096;

  virtual ~BlockStorage() = default;
  virtual uint64_t size_bytes() const = 0;

  // offset and buffer size must be multiples of sector_size_bytes and inside the device. The
  // buffer must stay alive and unchanged until the callback runs.
  virtual void read(uint64_t offset_bytes, std::span<uint8_t> buffer, IoCallback callback) = 0;
  virtual void write(uint64_t offset_bytes, std::span<const uint8_t> buffer,
                     IoCallback callback) = 0;
  // Makes every write that completed before this call durable.
  virtual void sync(IoCallback callback) = 0;

  static bool aligned(uint64_t offset_bytes, uint64_t size_bytes) {
    return offset_bytes % sector_size_bytes == 0 && size_bytes % sector_size_bytes == 0;
  }
};

}  // namespace keel::io
