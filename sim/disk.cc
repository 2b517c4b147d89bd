#include "sim/disk.h"

#include <algorithm>
#include <cstring>

#include "sim/node.h"

namespace keel::sim {

SimDisk::SimDisk(World& world, SimNode& node, uint64_t size_bytes, const DiskProfile& profile)
    : world_(world),
      node_(node),
      profile_(profile),
      durable_(size_bytes, 0),
      current_(size_bytes, 0),
      durable_meta_(size_bytes / sector_size_bytes),
      current_meta_(size_bytes / sector_size_bytes),
      generation_(size_bytes / sector_size_bytes, 0),
      durable_generation_(size_bytes / sector_size_bytes, 0),
      unsynced_(size_bytes / sector_size_bytes, 0),
      current_captures_(size_bytes / sector_size_bytes, 0) {
  KEEL_ASSERT(size_bytes > 0 && size_bytes % sector_size_bytes == 0);
}

uint64_t SimDisk::latency_ns() {
  uint64_t latency =
      profile_.latency_min_ns + world_.random().exponential(profile_.latency_tail_mean_ns);
  if (faults_enabled_ && profile_.slow_probability > 0 &&
      world_.random().chance(profile_.slow_probability)) {
    latency += 100 * profile_.latency_tail_mean_ns;
    world_.fault(node_.id(), FaultKind::disk_slow, latency);
  }
  return latency;
}

void SimDisk::read(uint64_t offset_bytes, std::span<uint8_t> buffer, io::IoCallback callback) {
  KEEL_ASSERT(aligned(offset_bytes, buffer.size()) && !buffer.empty());
  KEEL_ASSERT(offset_bytes + buffer.size() <= size_bytes());
  node_.schedule_after(latency_ns(), EventKind::disk_read,
                       [this, offset_bytes, buffer, callback = std::move(callback)]() mutable {
                         complete_read(offset_bytes, buffer, std::move(callback));
                       });
}

void SimDisk::complete_read(uint64_t offset_bytes, std::span<uint8_t> buffer,
                            io::IoCallback callback) {
  const uint64_t sector_first = offset_bytes / sector_size_bytes;
  const uint64_t sectors = buffer.size() / sector_size_bytes;
  maybe_damage_on_read(sector_first, sectors);
  std::memcpy(buffer.data(), current_.data() + offset_bytes, buffer.size());
  io::IoStatus status = io::IoStatus::ok;
  for (uint64_t i = 0; i < sectors; i++) {
    const SectorMeta& meta = current_meta_[sector_first + i];
    if (meta.latent_error) {
      status = io::IoStatus::error;
    } else if (meta.damaged) {
      const uint32_t bit = meta.flipped_bit;
      buffer[i * sector_size_bytes + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    }
  }
  callback(status);
}

void SimDisk::maybe_damage_on_read(uint64_t sector_first, uint64_t sector_count) {
  if (!faults_enabled_) return;
  if (profile_.read_corrupt_probability > 0 &&
      world_.random().chance(profile_.read_corrupt_probability)) {
    const uint64_t sector = sector_first + world_.random().uniform(sector_count);
    if (hit_sector_or_block(sector, &SimDisk::damage_sector)) {
      world_.fault(node_.id(), FaultKind::disk_read_corrupt, sector);
    }
  }
  if (profile_.latent_error_probability > 0 &&
      world_.random().chance(profile_.latent_error_probability)) {
    const uint64_t sector = sector_first + world_.random().uniform(sector_count);
    if (hit_sector_or_block(sector, &SimDisk::fail_sector)) {
      world_.fault(node_.id(), FaultKind::disk_latent_error, sector);
    }
  }
}

// Damage concentrated on the newest writes reaches the protocol where its newest promises are
// (the head of a log), as a bad region or a firmware bug would when it eats recent data.
bool SimDisk::hit_sector_or_block(uint64_t sector, bool (SimDisk::*hit)(uint64_t)) {
  const double fraction = profile_.recent_block_fraction;
  if (fraction <= 0 || recent_writes_count_ == 0 || !world_.random().chance(fraction)) {
    return (this->*hit)(sector);
  }
  return hit_recent_block(hit, false);
}

bool SimDisk::damage_recent_block(bool newest) {
  if (recent_writes_count_ == 0) return false;
  return hit_recent_block(&SimDisk::damage_sector, newest);
}

bool SimDisk::hit_recent_block(bool (SimDisk::*hit)(uint64_t), bool newest) {
  KEEL_ASSERT(recent_writes_count_ > 0);
  const uint64_t recent = std::min<uint64_t>(recent_writes_count_, recent_writes_.size());
  const uint64_t back = newest ? 0 : world_.random().uniform(recent);  // 0: the newest
  const uint64_t index = (recent_writes_count_ - 1 - back) % recent_writes_.size();
  const StorageFaultBudget& budget = world_.storage_budget();
  return hit_block(budget.domain_of(recent_writes_[index]), hit);
}

uint32_t SimDisk::fail_recent_blocks() {
  const uint64_t recent = std::min<uint64_t>(recent_writes_count_, recent_writes_.size());
  const StorageFaultBudget& budget = world_.storage_budget();
  std::array<uint64_t, recent_writes_max> blocks{};
  uint32_t blocks_count = 0;
  for (uint64_t i = 0; i < recent; i++) {
    const uint64_t block = budget.domain_of(recent_writes_[i]);
    if (std::find(blocks.begin(), blocks.begin() + blocks_count, block) ==
        blocks.begin() + blocks_count) {
      blocks[blocks_count++] = block;
    }
  }
  uint32_t hits = 0;
  for (uint32_t i = 0; i < blocks_count; i++) {
    if (hit_block(blocks[i], &SimDisk::fail_sector)) hits++;
  }
  return hits;
}

bool SimDisk::hit_block(uint64_t block, bool (SimDisk::*hit)(uint64_t)) {
  const StorageFaultBudget& budget = world_.storage_budget();
  bool any = false;
  // Rare (a fault), so a scan of the disk is cheap enough; a block's sectors need not be
  // adjacent (a WAL slot's ring header and its prepare).
  for (uint64_t other = 0; other < sector_count(); other++) {
    if (budget.domain_of(other) == block && (this->*hit)(other)) any = true;
  }
  return any;
}

// Damage is in the medium: both images of the sector read back damaged, so a crash cannot
// undo it; only a rewrite that becomes durable does.
bool SimDisk::damage_sector(uint64_t sector) {
  KEEL_ASSERT(sector < sector_count());
  if (current_meta_[sector].damaged || current_meta_[sector].latent_error) return false;
  if (!world_.storage_budget().allows(node_.id(), sector, 1)) return false;
  world_.storage_budget().mark(node_.id(), sector, 1);
  const uint32_t bit = bit_in_data(sector);
  for (SectorMeta* meta : {&current_meta_[sector], &durable_meta_[sector]}) {
    meta->damaged = true;
    meta->flipped_bit = bit;
  }
  return true;
}

// Most writes fill their last sector only in part (a prepare is far smaller than its slot). A
// flip in the zero tail after the data is covered by no checksum and seen by no reader: damage
// that reaches nothing. So a flip lands in the sector's bytes up to its last non-zero one.
uint32_t SimDisk::bit_in_data(uint64_t sector) {
  KEEL_ASSERT(sector < sector_count());
  const uint8_t* bytes = current_.data() + sector * sector_size_bytes;
  uint64_t size_bytes = sector_size_bytes;
  while (size_bytes > 0 && bytes[size_bytes - 1] == 0) size_bytes--;
  if (size_bytes == 0) size_bytes = sector_size_bytes;  // all zero: anywhere
  const uint64_t bit = world_.random().uniform(size_bytes * 8);
  KEEL_ASSERT(bit < sector_size_bytes * 8);
  return static_cast<uint32_t>(bit);
}

bool SimDisk::fail_sector(uint64_t sector) {
  KEEL_ASSERT(sector < sector_count());
  if (current_meta_[sector].damaged || current_meta_[sector].latent_error) return false;
  if (!world_.storage_budget().allows(node_.id(), sector, 1)) return false;
  world_.storage_budget().mark(node_.id(), sector, 1);
  current_meta_[sector].latent_error = true;
  durable_meta_[sector].latent_error = true;
  return true;
}

void SimDisk::write(uint64_t offset_bytes, std::span<const uint8_t> buffer,
                    io::IoCallback callback) {
  KEEL_ASSERT(aligned(offset_bytes, buffer.size()) && !buffer.empty());
  KEEL_ASSERT(offset_bytes + buffer.size() <= size_bytes());
  // The device reads the buffer while the write is in flight; copying at submission keeps the
  // simulation independent of what the caller does with the buffer afterwards (which the
  // contract forbids anyway).
  std::vector<uint8_t> data = take_buffer();
  data.assign(buffer.begin(), buffer.end());
  node_.schedule_after(
      latency_ns(), EventKind::disk_write,
      [this, offset_bytes, data = std::move(data), callback = std::move(callback)]() mutable {
        complete_write(offset_bytes, std::move(data), std::move(callback));
      });
}

void SimDisk::complete_write(uint64_t offset_bytes, std::vector<uint8_t> data,
                             io::IoCallback callback) {
  const uint64_t target_first = offset_bytes / sector_size_bytes;
  const uint64_t sectors = data.size() / sector_size_bytes;
  StorageFaultBudget& budget = world_.storage_budget();
  io::Random& random = world_.random();

  if (faults_enabled_ && profile_.misdirect_probability > 0 &&
      random.chance(profile_.misdirect_probability) && sectors < sector_count()) {
    const uint64_t elsewhere = random.uniform(sector_count() - sectors + 1);
    // The landing zone must not overlap the target, which keeps its stale data; both are faulty.
    const bool overlaps = elsewhere < target_first + sectors && target_first < elsewhere + sectors;
    if (!overlaps && budget.allows_both(node_.id(), target_first, sectors, elsewhere, sectors)) {
      budget.mark(node_.id(), target_first, sectors);
      budget.mark(node_.id(), elsewhere, sectors);
      for (uint64_t sector = target_first; sector < target_first + sectors; sector++) {
        begin_change(sector);
        current_meta_[sector].faulty = true;  // Stale: not what the caller wrote.
      }
      land(elsewhere, data, true);
      world_.fault(node_.id(), FaultKind::disk_misdirect, elsewhere);
      give_back_buffer(std::move(data));
      callback(io::IoStatus::ok);  // A misdirected write reports success.
      return;
    }
  }
  land(target_first, data, false);
  recent_writes_[recent_writes_count_++ % recent_writes_.size()] = target_first;
  if (faults_enabled_ && profile_.write_corrupt_probability > 0 &&
      random.chance(profile_.write_corrupt_probability)) {
    const uint64_t sector = target_first + random.uniform(sectors);
    if (budget.allows(node_.id(), sector, 1)) {
      budget.mark(node_.id(), sector, 1);
      const uint64_t bit = bit_in_data(sector);
      current_[sector * sector_size_bytes + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      current_meta_[sector].faulty = true;
      world_.fault(node_.id(), FaultKind::disk_write_corrupt, sector);
    }
  }
  give_back_buffer(std::move(data));
  callback(io::IoStatus::ok);
}

std::vector<uint8_t> SimDisk::take_buffer() {
  if (spare_buffers_.empty()) return {};
  std::vector<uint8_t> buffer = std::move(spare_buffers_.back());
  spare_buffers_.pop_back();
  return buffer;
}

void SimDisk::give_back_buffer(std::vector<uint8_t> buffer) {
  // Bounded: enough for the writes a replica has in flight at once.
  constexpr size_t spare_buffers_max = 16;
  if (spare_buffers_.size() < spare_buffers_max) spare_buffers_.push_back(std::move(buffer));
}

void SimDisk::land(uint64_t sector_first, std::span<const uint8_t> data, bool faulty) {
  const uint64_t sectors = data.size() / sector_size_bytes;
  for (uint64_t sector = sector_first; sector < sector_first + sectors; sector++) {
    begin_change(sector);
    // A rewrite replaces the content of the sector, damage and all: in the current image only.
    current_meta_[sector] = SectorMeta{faulty, false, false, 0};
  }
  std::memcpy(current_.data() + sector_first * sector_size_bytes, data.data(), data.size());
}

void SimDisk::begin_change(uint64_t sector) {
  if (current_captures_[sector] > 0) {
    const uint8_t* bytes = current_.data() + sector * sector_size_bytes;
    const auto [it, inserted] =
        captured_.try_emplace(std::pair{sector, generation_[sector]},
                              Captured{std::vector<uint8_t>(bytes, bytes + sector_size_bytes),
                                       current_meta_[sector], current_captures_[sector]});
    KEEL_ASSERT(inserted);
    current_captures_[sector] = 0;
  }
  generation_[sector]++;
  if (!unsynced_[sector]) {
    unsynced_[sector] = 1;
    unsynced_list_.push_back(sector);
  }
}

void SimDisk::forget_pending_syncs() {
  std::fill(current_captures_.begin(), current_captures_.end(), 0);
  captured_.clear();
}

void SimDisk::refresh_budget(uint64_t sector) {
  if (!faulty(current_meta_[sector]) && !faulty(durable_meta_[sector])) {
    world_.storage_budget().heal(node_.id(), sector, 1);
  }
}

void SimDisk::sync(io::IoCallback callback) {
  // A sync makes durable what was current when it was issued, and nothing written after: each
  // covered sector's generation is captured now, and a sector changed since stays unsynced.
  std::vector<Covered> covered;
  covered.reserve(unsynced_list_.size());
  for (uint64_t sector : unsynced_list_) {
    covered.push_back(Covered{sector, generation_[sector]});
    current_captures_[sector]++;
  }
  node_.schedule_after(
      latency_ns(), EventKind::disk_sync,
      [this, covered = std::move(covered), callback = std::move(callback)]() mutable {
        complete_sync(covered);
        callback(io::IoStatus::ok);
      });
}

void SimDisk::complete_sync(const std::vector<Covered>& covered) {
  for (const Covered& item : covered) {
    const uint64_t sector = item.sector;
    const uint8_t* bytes = current_.data() + sector * sector_size_bytes;
    SectorMeta meta = current_meta_[sector];
    auto captured = captured_.end();
    if (generation_[sector] == item.generation) {
      KEEL_ASSERT(current_captures_[sector] > 0);
      current_captures_[sector]--;
    } else {
      captured = captured_.find(std::pair{sector, item.generation});
      KEEL_ASSERT(captured != captured_.end() && captured->second.syncs > 0);
      bytes = captured->second.bytes.data();
      meta = captured->second.meta;
    }
    // Syncs may complete out of order: a sector's durable image only moves forward.
    if (item.generation > durable_generation_[sector]) {
      std::memcpy(durable_.data() + sector * sector_size_bytes, bytes, sector_size_bytes);
      durable_meta_[sector] = meta;
      durable_generation_[sector] = item.generation;
      if (generation_[sector] == item.generation) unsynced_[sector] = 0;
      refresh_budget(sector);
    }
    if (captured != captured_.end() && --captured->second.syncs == 0) captured_.erase(captured);
  }
  std::erase_if(unsynced_list_, [this](uint64_t sector) { return !unsynced_[sector]; });
}

void SimDisk::crash() {
  // The node's pending syncs never complete: their callbacks went with its incarnation.
  forget_pending_syncs();
  io::Random& random = world_.random();
  for (uint64_t sector : unsynced_list_) {
    KEEL_ASSERT(unsynced_[sector]);
    unsynced_[sector] = 0;
    const uint64_t offset = sector * sector_size_bytes;
    uint8_t* durable = durable_.data() + offset;
    uint8_t* current = current_.data() + offset;
    SectorMeta& durable_meta = durable_meta_[sector];
    const SectorMeta& current_meta = current_meta_[sector];
    if (std::memcmp(durable, current, sector_size_bytes) != 0) {
      switch (random.uniform(3)) {
        case 0:  // The write made it.
          std::memcpy(durable, current, sector_size_bytes);
          durable_meta = current_meta;
          durable_generation_[sector] = generation_[sector];
          break;
        case 1:
          world_.fault(node_.id(), FaultKind::disk_lost_write, sector);
          break;
        default: {
          // Torn: a prefix of the sector's 512-byte blocks landed, never all of them.
          const uint64_t blocks = random.range(1, sector_size_bytes / 512 - 1);
          std::memcpy(durable, current, blocks * 512);
          durable_meta.faulty = durable_meta.faulty || current_meta.faulty;
          world_.fault(node_.id(), FaultKind::disk_torn_write, sector);
          break;
        }
      }
    } else {
      // Same bytes (a misdirected write's stale target, say): what they stand for may differ.
      durable_meta.faulty = durable_meta.faulty || current_meta.faulty;
    }
    std::memcpy(current, durable, sector_size_bytes);
    current_meta_[sector] = durable_meta;
    // The current image is the durable one again, as a new version of the sector.
    generation_[sector]++;
    durable_generation_[sector] = generation_[sector];
    refresh_budget(sector);
  }
  unsynced_list_.clear();
}

void SimDisk::wipe() {
  wipes_++;
  forget_pending_syncs();
  std::fill(durable_.begin(), durable_.end(), 0);
  std::fill(current_.begin(), current_.end(), 0);
  std::fill(unsynced_.begin(), unsynced_.end(), 0);
  std::fill(durable_meta_.begin(), durable_meta_.end(), SectorMeta{});
  std::fill(current_meta_.begin(), current_meta_.end(), SectorMeta{});
  unsynced_list_.clear();
}

void SimDisk::format(uint64_t offset_bytes, std::span<const uint8_t> data) {
  KEEL_ASSERT(aligned(offset_bytes, data.size()));
  KEEL_ASSERT(offset_bytes + data.size() <= size_bytes());
  std::memcpy(durable_.data() + offset_bytes, data.data(), data.size());
  std::memcpy(current_.data() + offset_bytes, data.data(), data.size());
  const uint64_t sector_first = offset_bytes / sector_size_bytes;
  for (uint64_t sector = sector_first; sector < sector_first + data.size() / sector_size_bytes;
       sector++) {
    durable_meta_[sector] = SectorMeta{};
    current_meta_[sector] = SectorMeta{};
    refresh_budget(sector);
  }
}

uint64_t SimDisk::unsynced_sectors() const {
  return static_cast<uint64_t>(std::count(unsynced_.begin(), unsynced_.end(), 1));
}

}  // namespace keel::sim
