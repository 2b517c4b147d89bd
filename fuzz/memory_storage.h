#pragma once
// An in-memory io::BlockStorage for the fuzz targets: reads see the bytes the fuzzer chose.
// Callbacks run from run(), never inside the call that started them, as on a real device.

#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <utility>
#include <vector>

#include "core/vsr/config.h"
#include "io/assert.h"
#include "io/storage.h"

namespace keel::fuzz {

class MemoryStorage final : public io::BlockStorage {
 public:
  explicit MemoryStorage(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {
    KEEL_ASSERT(aligned(0, bytes_.size()));
  }
  uint64_t size_bytes() const override { return bytes_.size(); }
  void read(uint64_t offset_bytes, std::span<uint8_t> buffer, io::IoCallback callback) override {
    KEEL_ASSERT(aligned(offset_bytes, buffer.size()));
    KEEL_ASSERT(offset_bytes + buffer.size() <= bytes_.size());
    std::memcpy(buffer.data(), bytes_.data() + offset_bytes, buffer.size());
    pending_.emplace_back(std::move(callback));
  }
  void write(uint64_t offset_bytes, std::span<const uint8_t> buffer,
             io::IoCallback callback) override {
    KEEL_ASSERT(aligned(offset_bytes, buffer.size()));
    KEEL_ASSERT(offset_bytes + buffer.size() <= bytes_.size());
    std::memcpy(bytes_.data() + offset_bytes, buffer.data(), buffer.size());
    pending_.emplace_back(std::move(callback));
  }
  void sync(io::IoCallback callback) override { pending_.emplace_back(std::move(callback)); }

  // Runs every completion, including those that completions start.
  void run() {
    while (!pending_.empty()) {
      io::IoCallback callback = std::move(pending_.front());
      pending_.pop_front();
      callback(io::IoStatus::ok);
    }
  }

 private:
  std::vector<uint8_t> bytes_;
  std::deque<io::IoCallback> pending_;
};

// The fuzzer's bytes laid over a zeroed device of size_bytes (the rest stays zero).
inline std::vector<uint8_t> device_bytes(const uint8_t* data, size_t size, uint64_t size_bytes) {
  std::vector<uint8_t> bytes(size_bytes, 0);
  std::memcpy(bytes.data(), data, size < size_bytes ? size : size_bytes);
  return bytes;
}

// The small WAL the WAL fuzz target and its corpus share: 8 slots.
inline vsr::Config small_wal_config() {
  vsr::Config config;
  config.replica_count = 3;
  config.wal_slots = 8;
  config.checkpoint_interval = 4;
  config.pipeline_max = 2;
  config.message_size_bytes_max = 8 * 1024;
  config.snapshot_size_bytes_max = 8 * 1024;
  return config;
}

}  // namespace keel::fuzz
