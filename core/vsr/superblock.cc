#include "core/vsr/superblock.h"

#include <algorithm>
#include <cstring>

#include "io/assert.h"
#include "io/checksum.h"
#include "io/little_endian.h"

namespace keel::vsr {
namespace {

using io::load_u32;
using io::load_u64;
using io::store_u32;
using io::store_u64;

constexpr uint64_t sector_size = io::BlockStorage::sector_size_bytes;
constexpr uint64_t header_size = 28;  // checksum, sequence, slot + padding, body size
constexpr uint64_t body_size_max = sector_size - header_size;

uint64_t sector_checksum(const uint8_t* sector) {
  return io::checksum(std::span<const uint8_t>(sector + 8, sector_size - 8));
}

}  // namespace

Superblock::Superblock(io::BlockStorage& storage, uint64_t zone_offset_bytes, uint64_t cluster_id,
                       uint32_t replica)
    : storage_(storage),
      zone_offset_bytes_(zone_offset_bytes),
      cluster_id_(cluster_id),
      replica_(replica),
      buffer_(zone_size_bytes) {
  KEEL_ASSERT(io::BlockStorage::aligned(zone_offset_bytes, zone_size_bytes));
  KEEL_ASSERT(zone_offset_bytes + zone_size_bytes <= storage.size_bytes());
}

void Superblock::encode_copy(const proto::SuperblockState& state, uint64_t sequence, uint8_t slot,
                             uint8_t* sector) {
  const size_t body_size = state.ByteSizeLong();
  KEEL_ASSERT(body_size <= body_size_max);
  std::memset(sector, 0, sector_size);
  store_u64(sector + 8, sequence);
  sector[16] = slot;
  store_u32(sector + 24, static_cast<uint32_t>(body_size));
  const bool serialized = state.SerializeToArray(sector + header_size, static_cast<int>(body_size));
  KEEL_ASSERT(serialized);
  store_u64(sector, sector_checksum(sector));
}

std::vector<uint8_t> Superblock::format(const proto::SuperblockState& state) {
  std::vector<uint8_t> zone(zone_size_bytes);
  for (uint32_t slot = 0; slot < copies; slot++) {
    encode_copy(state, 1, static_cast<uint8_t>(slot), zone.data() + slot * sector_size);
  }
  return zone;
}

void Superblock::open(absl::AnyInvocable<void(const OpenResult&)> done) {
  KEEL_ASSERT(!busy_);
  busy_ = true;
  open_done_ = std::move(done);
  reads_pending_ = copies;
  // One read per copy, so that an unreadable sector spoils only its own copy.
  for (uint32_t slot = 0; slot < copies; slot++) read_copy(slot);
}

void Superblock::read_copy(uint32_t slot) {
  const std::span<uint8_t> sector(buffer_.data() + slot * sector_size, sector_size);
  storage_.read(zone_offset_bytes_ + slot * sector_size, sector, [this, slot](io::IoStatus status) {
    read_status_[slot] = status;
    KEEL_ASSERT(reads_pending_ > 0);
    if (--reads_pending_ == 0) finish_open();
  });
}

Superblock::Copy Superblock::decode_copy(std::span<const uint8_t> bytes, uint32_t slot) {
  KEEL_ASSERT(bytes.size() == sector_size);
  KEEL_ASSERT(slot < copies);
  const uint8_t* sector = bytes.data();
  Copy copy;
  const uint32_t body_size = load_u32(sector + 24);
  if (std::all_of(sector, sector + sector_size, [](uint8_t b) { return b == 0; })) {
    copy.status = CopyStatus::empty;
  } else if (load_u64(sector) != sector_checksum(sector) || body_size > body_size_max ||
             load_u64(sector + 8) == 0 ||
             !copy.state.ParseFromArray(sector + header_size, static_cast<int>(body_size))) {
    copy.status = CopyStatus::corrupt;
  } else if (sector[16] != slot) {
    copy.status = CopyStatus::misdirected;
  } else {
    copy.status = CopyStatus::current;
    copy.sequence = load_u64(sector + 8);
  }
  return copy;
}

uint32_t Superblock::resolve(std::array<Copy, copies>& decoded, uint64_t cluster_id,
                             uint32_t replica) {
  uint32_t winner = copies;
  for (uint32_t slot = 0; slot < copies; slot++) {
    Copy& copy = decoded[slot];
    if (copy.status != CopyStatus::current) continue;
    if (copy.state.cluster_id() != cluster_id || copy.state.replica() != replica) {
      copy.status = CopyStatus::foreign;
      continue;
    }
    if (winner == copies || copy.sequence > decoded[winner].sequence) winner = slot;
  }
  if (winner == copies) return winner;
  for (Copy& copy : decoded) {
    if (copy.status == CopyStatus::current && copy.sequence < decoded[winner].sequence) {
      copy.status = CopyStatus::stale;
    }
  }
  return winner;
}

uint32_t Superblock::inspect(std::span<const uint8_t, zone_size_bytes> zone,
                             std::array<Copy, copies>& decoded) {
  uint32_t newest = copies;
  for (uint32_t slot = 0; slot < copies; slot++) {
    decoded[slot] = decode_copy(zone.subspan(slot * sector_size, sector_size), slot);
    if (decoded[slot].status != CopyStatus::current) continue;
    if (newest == copies || decoded[slot].sequence > decoded[newest].sequence) newest = slot;
  }
  if (newest == copies) return copies;
  return resolve(decoded, decoded[newest].state.cluster_id(), decoded[newest].state.replica());
}

void Superblock::finish_open() {
  std::array<Copy, copies> decoded;
  for (uint32_t slot = 0; slot < copies; slot++) {
    if (read_status_[slot] != io::IoStatus::ok) {
      decoded[slot].status = CopyStatus::unreadable;
    } else {
      decoded[slot] = decode_copy(
          std::span<const uint8_t>(buffer_.data() + slot * sector_size, sector_size), slot);
    }
  }
  const uint32_t winner = resolve(decoded, cluster_id_, replica_);
  OpenResult result;
  for (uint32_t slot = 0; slot < copies; slot++) result.status[slot] = decoded[slot].status;
  if (winner != copies) {
    result.found = true;
    result.sequence = decoded[winner].sequence;
    state_ = std::move(decoded[winner].state);
    sequence_ = decoded[winner].sequence;
  }
  busy_ = false;
  auto done = std::move(open_done_);
  done(result);
}

void Superblock::write(const proto::SuperblockState& state,
                       absl::AnyInvocable<void(bool durable)> done) {
  KEEL_ASSERT(!busy_);
  KEEL_ASSERT(state.cluster_id() == cluster_id_ && state.replica() == replica_);
  // The protocol's promises only ever move forward.
  KEEL_ASSERT(state.view() >= state_.view() && state.log_view() <= state.view());
  busy_ = true;
  const uint64_t sequence = sequence_ + 1;
  for (uint32_t slot = 0; slot < copies; slot++) {
    encode_copy(state, sequence, static_cast<uint8_t>(slot), buffer_.data() + slot * sector_size);
  }
  write_copy(
      0,
      [this, state, sequence, done = std::move(done)](bool durable) mutable {
        busy_ = false;
        if (durable) {
          state_ = state;
          sequence_ = sequence;
        }
        done(durable);
      },
      true);
}

void Superblock::write_copy(uint32_t slot, absl::AnyInvocable<void(bool durable)> done,
                            bool ok_so_far) {
  KEEL_ASSERT(slot < copies);
  const std::span<const uint8_t> sector(buffer_.data() + slot * sector_size, sector_size);
  storage_.write(
      zone_offset_bytes_ + slot * sector_size, sector,
      [this, slot, ok_so_far, done = std::move(done)](io::IoStatus status) mutable {
        const bool ok = ok_so_far && status == io::IoStatus::ok;
        const uint32_t next = slot + 1;
        if (next != copies / 2 && next != copies) {
          write_copy(next, std::move(done), ok);
          return;
        }
        // Each half is synced before the next is touched (see the write rule).
        storage_.sync([this, next, ok, done = std::move(done)](io::IoStatus synced) mutable {
          const bool durable = ok && synced == io::IoStatus::ok;
          if (next == copies) {
            done(durable);
          } else {
            write_copy(next, std::move(done), durable);
          }
        });
      });
}

const char* copy_status_name(Superblock::CopyStatus status) {
  switch (status) {
    case Superblock::CopyStatus::current:
      return "current";
    case Superblock::CopyStatus::stale:
      return "stale";
    case Superblock::CopyStatus::empty:
      return "empty";
    case Superblock::CopyStatus::unreadable:
      return "unreadable";
    case Superblock::CopyStatus::corrupt:
      return "corrupt";
    case Superblock::CopyStatus::misdirected:
      return "misdirected";
    case Superblock::CopyStatus::foreign:
      return "foreign";
  }
  return "unknown";
}

}  // namespace keel::vsr
