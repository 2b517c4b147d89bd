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
      unsynced_(size_bytes / sector_size_bytes, 0) {
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
    const auto found = damage_.find(sector_first + i);
    if (found == damage_.end()) continue;
    if (found->second.latent_error) {
      status = io::IoStatus::error;
    } else {
      const uint32_t bit = found->second.flipped_bit;
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
    if (damage_sector(sector)) world_.fault(node_.id(), FaultKind::disk_read_corrupt, sector);
  }
  if (profile_.latent_error_probability > 0 &&
      world_.random().chance(profile_.latent_error_probability)) {
    const uint64_t sector = sector_first + world_.random().uniform(sector_count);
    if (fail_sector(sector)) world_.fault(node_.id(), FaultKind::disk_latent_error, sector);
  }
}

bool SimDisk::damage_sector(uint64_t sector) {
  KEEL_ASSERT(sector < sector_count());
  if (damage_.contains(sector)) return false;
  if (!world_.storage_budget().allows(node_.id(), sector, 1)) return false;
  world_.storage_budget().mark(node_.id(), sector, 1);
  damage_[sector] =
      Damage{false, static_cast<uint32_t>(world_.random().uniform(sector_size_bytes * 8))};
  return true;
}

bool SimDisk::fail_sector(uint64_t sector) {
  KEEL_ASSERT(sector < sector_count());
  if (damage_.contains(sector)) return false;
  if (!world_.storage_budget().allows(node_.id(), sector, 1)) return false;
  world_.storage_budget().mark(node_.id(), sector, 1);
  damage_[sector] = Damage{true, 0};
  return true;
}

void SimDisk::write(uint64_t offset_bytes, std::span<const uint8_t> buffer,
                    io::IoCallback callback) {
  KEEL_ASSERT(aligned(offset_bytes, buffer.size()) && !buffer.empty());
  KEEL_ASSERT(offset_bytes + buffer.size() <= size_bytes());
  // The device reads the buffer while the write is in flight; copying at submission keeps the
  // simulation independent of what the caller does with the buffer afterwards (which the
  // contract forbids anyway).
  std::vector<uint8_t> data(buffer.begin(), buffer.end());
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
  uint64_t landing_first = target_first;

  if (faults_enabled_ && profile_.misdirect_probability > 0 &&
      random.chance(profile_.misdirect_probability) && sectors < sector_count()) {
    const uint64_t elsewhere = random.uniform(sector_count() - sectors + 1);
    // The target keeps stale data and the landing zone is overwritten: both are faulty.
    if (elsewhere != target_first && budget.allows(node_.id(), target_first, sectors) &&
        budget.allows(node_.id(), elsewhere, sectors)) {
      budget.mark(node_.id(), target_first, sectors);
      land(elsewhere, data);
      budget.mark(node_.id(), elsewhere, sectors);
      world_.fault(node_.id(), FaultKind::disk_misdirect, elsewhere);
      callback(io::IoStatus::ok);  // A misdirected write reports success.
      return;
    }
  }
  land(landing_first, data);
  budget.heal(node_.id(), landing_first, sectors);
  if (faults_enabled_ && profile_.write_corrupt_probability > 0 &&
      random.chance(profile_.write_corrupt_probability)) {
    const uint64_t sector = landing_first + random.uniform(sectors);
    if (budget.allows(node_.id(), sector, 1)) {
      budget.mark(node_.id(), sector, 1);
      const uint64_t bit = random.uniform(sector_size_bytes * 8);
      current_[sector * sector_size_bytes + bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      world_.fault(node_.id(), FaultKind::disk_write_corrupt, sector);
    }
  }
  callback(io::IoStatus::ok);
}

void SimDisk::land(uint64_t sector_first, std::span<const uint8_t> data) {
  std::memcpy(current_.data() + sector_first * sector_size_bytes, data.data(), data.size());
  const uint64_t sectors = data.size() / sector_size_bytes;
  for (uint64_t sector = sector_first; sector < sector_first + sectors; sector++) {
    damage_.erase(sector);  // A rewrite replaces a damaged or unreadable sector.
    if (!unsynced_[sector]) {
      unsynced_[sector] = 1;
      unsynced_list_.push_back(sector);
    }
  }
}

void SimDisk::sync(io::IoCallback callback) {
  // Only writes completed before the sync was issued are covered by it.
  std::vector<uint64_t> covered = unsynced_list_;
  node_.schedule_after(
      latency_ns(), EventKind::disk_sync,
      [this, covered = std::move(covered), callback = std::move(callback)]() mutable {
        for (uint64_t sector : covered) {
          if (!unsynced_[sector]) continue;
          const uint64_t offset = sector * sector_size_bytes;
          std::memcpy(durable_.data() + offset, current_.data() + offset, sector_size_bytes);
          unsynced_[sector] = 0;
        }
        std::erase_if(unsynced_list_, [this](uint64_t sector) { return !unsynced_[sector]; });
        callback(io::IoStatus::ok);
      });
}

void SimDisk::crash() {
  io::Random& random = world_.random();
  for (uint64_t sector : unsynced_list_) {
    if (!unsynced_[sector]) continue;
    unsynced_[sector] = 0;
    const uint64_t offset = sector * sector_size_bytes;
    uint8_t* durable = durable_.data() + offset;
    const uint8_t* current = current_.data() + offset;
    if (std::memcmp(durable, current, sector_size_bytes) == 0) continue;
    switch (random.uniform(3)) {
      case 0:  // The write made it.
        std::memcpy(durable, current, sector_size_bytes);
        break;
      case 1:
        world_.fault(node_.id(), FaultKind::disk_lost_write, sector);
        break;
      default: {
        // Torn: a prefix of the sector's 512-byte blocks landed, never all of them.
        const uint64_t blocks = random.range(1, sector_size_bytes / 512 - 1);
        std::memcpy(durable, current, blocks * 512);
        world_.fault(node_.id(), FaultKind::disk_torn_write, sector);
        break;
      }
    }
  }
  unsynced_list_.clear();
  current_ = durable_;
}

void SimDisk::wipe() {
  std::fill(durable_.begin(), durable_.end(), 0);
  std::fill(current_.begin(), current_.end(), 0);
  std::fill(unsynced_.begin(), unsynced_.end(), 0);
  unsynced_list_.clear();
  damage_.clear();
}

void SimDisk::format(uint64_t offset_bytes, std::span<const uint8_t> data) {
  KEEL_ASSERT(aligned(offset_bytes, data.size()));
  KEEL_ASSERT(offset_bytes + data.size() <= size_bytes());
  std::memcpy(durable_.data() + offset_bytes, data.data(), data.size());
  std::memcpy(current_.data() + offset_bytes, data.data(), data.size());
}

uint64_t SimDisk::unsynced_sectors() const {
  return static_cast<uint64_t>(std::count(unsynced_.begin(), unsynced_.end(), 1));
}

}  // namespace keel::sim
