#pragma once
// A simulated block device that keeps io/storage.h's durability contract and injects the
// faults the contract allows: latency spikes, damaged reads that stay damaged until the sector
// is rewritten, damaged writes, misdirected writes, latent sector errors, and lost or torn
// unsynced writes on a crash. Storage faults stay inside the StorageFaultBudget.

#include <array>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "io/assert.h"
#include "io/storage.h"
#include "sim/profile.h"
#include "sim/world.h"

namespace keel::sim {

class SimNode;

class SimDisk final : public io::BlockStorage {
 public:
  SimDisk(World& world, SimNode& node, uint64_t size_bytes, const DiskProfile& profile);

  uint64_t size_bytes() const override { return current_.size(); }
  void read(uint64_t offset_bytes, std::span<uint8_t> buffer, io::IoCallback callback) override;
  void write(uint64_t offset_bytes, std::span<const uint8_t> buffer,
             io::IoCallback callback) override;
  void sync(io::IoCallback callback) override;

  // Called by the node: unsynced sectors are kept, lost or torn, each by chance.
  void crash();
  // Zeroes the whole device, durable contents too.
  void wipe();
  uint64_t wipes() const { return wipes_; }
  // Writes durably at once, with no faults: the `keel format` of a simulated cluster.
  void format(uint64_t offset_bytes, std::span<const uint8_t> data);

  // Faults may be turned off for the liveness phase.
  void set_faults_enabled(bool enabled) { faults_enabled_ = enabled; }
  // Direct fault injection, for tests. Each returns false if the budget refuses it.
  bool damage_sector(uint64_t sector);
  bool fail_sector(uint64_t sector);
  // Damages every sector of the logical block of the newest write, or of one of the latest
  // writes (nothing if there were none); false if the budget refused every sector.
  bool damage_recent_block(bool newest);
  // Fails every sector of the logical blocks of all the latest writes (a medium error over the
  // newest data: reads fail until rewritten); returns how many blocks it hit, within the budget.
  uint32_t fail_recent_blocks();

  // What a crash would keep right now, and what a read would see: for tests and checkers.
  std::span<const uint8_t> durable_bytes() const { return durable_; }
  std::span<const uint8_t> current_bytes() const { return current_; }
  uint64_t unsynced_sectors() const;
  // Whether the durable image of sector holds other than what was last written there durably
  // (damaged, failing, or stale after a misdirected write): checkers judge no promise by it.
  bool durable_sector_faulty(uint64_t sector) const {
    KEEL_ASSERT(sector < sector_count());
    return faulty(durable_meta_[sector]);
  }

 private:
  // What the simulator knows about a sector's content beyond its bytes. Kept for the durable and
  // the current image alike, so that a crash that brings old bytes back brings their faults back.
  struct SectorMeta {
    bool faulty = false;        // counts against the storage-fault budget
    bool latent_error = false;  // reads fail
    bool damaged = false;       // reads return flipped_bit flipped
    uint32_t flipped_bit = 0;
  };

  // A sector's content (bytes and what the simulator knows of them) as a pending sync captured
  // it, kept only once the current image has moved on before that sync completed.
  struct Captured {
    std::vector<uint8_t> bytes;
    SectorMeta meta;
    uint32_t syncs = 0;  // pending syncs that still need it
  };
  struct Covered {
    uint64_t sector;
    uint64_t generation;
  };

  uint64_t latency_ns();
  uint64_t sector_count() const { return current_.size() / sector_size_bytes; }
  void complete_read(uint64_t offset_bytes, std::span<uint8_t> buffer, io::IoCallback callback);
  void complete_write(uint64_t offset_bytes, std::vector<uint8_t> data, io::IoCallback callback);
  void complete_sync(const std::vector<Covered>& covered);
  void maybe_damage_on_read(uint64_t sector_first, uint64_t sector_count);
  // Damages (or fails) sector or, a recent_block_fraction of the time, every sector of the
  // logical block (the fault domain) of one of the latest writes. Returns whether any sector
  // was hit.
  bool hit_sector_or_block(uint64_t sector, bool (SimDisk::*hit)(uint64_t));
  // Damages (or fails) every sector of the logical block of the newest write, or of one of the
  // latest writes.
  bool hit_recent_block(bool (SimDisk::*hit)(uint64_t), bool newest);
  bool hit_block(uint64_t block, bool (SimDisk::*hit)(uint64_t));
  // The bit a flip in sector lands on: one in its data, up to the last non-zero byte.
  uint32_t bit_in_data(uint64_t sector);
  // Puts data in the current image; faulty says whether it is what the caller meant to write.
  void land(uint64_t sector_first, std::span<const uint8_t> data, bool faulty);
  // Called before the current image of sector changes: keeps the content pending syncs captured,
  // then starts a new, unsynced generation.
  void begin_change(uint64_t sector);
  // Pending syncs are gone (a crash): nothing they captured is needed any more.
  void forget_pending_syncs();
  std::vector<uint8_t> take_buffer();
  void give_back_buffer(std::vector<uint8_t> buffer);
  // Heals the budget for sector once neither image of it is faulty.
  void refresh_budget(uint64_t sector);
  bool faulty(const SectorMeta& meta) const {
    return meta.faulty || meta.latent_error || meta.damaged;
  }

  World& world_;
  SimNode& node_;
  const DiskProfile& profile_;
  bool faults_enabled_ = true;
  uint64_t wipes_ = 0;
  std::vector<uint8_t> durable_;
  std::vector<uint8_t> current_;
  std::vector<SectorMeta> durable_meta_;
  std::vector<SectorMeta> current_meta_;
  // The first sectors of the latest writes, oldest overwritten first.
  static constexpr size_t recent_writes_max = 8;
  std::array<uint64_t, recent_writes_max> recent_writes_{};
  uint32_t recent_writes_count_ = 0;
  std::vector<uint64_t> generation_;  // per sector: bumped by every change of the current image
  std::vector<uint64_t> durable_generation_;  // per sector: the generation the durable image holds
  std::vector<uint8_t> unsynced_;             // per sector: 1 if the current image may differ
  std::vector<uint64_t> unsynced_list_;       // the unsynced sectors, in the order first changed
  // A sync captures each unsynced sector's generation when issued and copies it to the durable
  // image when it completes. The bytes are copied only if the sector changed in between (rare):
  // per sector, how many pending syncs captured its current generation; and the older
  // generations still needed, by (sector, generation). Only looked up, never iterated.
  std::vector<uint32_t> current_captures_;
  std::map<std::pair<uint64_t, uint64_t>, Captured> captured_;
  // Write buffers, reused: a write copies its data at submission (so the simulation does not
  // depend on what the caller does with its buffer) without an allocation each time.
  std::vector<std::vector<uint8_t>> spare_buffers_;
};

}  // namespace keel::sim
