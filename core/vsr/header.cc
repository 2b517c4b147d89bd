#include "core/vsr/header.h"

#include <array>
#include <cstring>

#include "core/vsr/superblock.h"
#include "io/assert.h"
#include "io/checksum.h"
#include "io/little_endian.h"
#include "io/storage.h"

namespace keel::vsr {
namespace {

using io::load_u32;
using io::load_u64;
using io::store_u32;
using io::store_u64;

constexpr uint64_t sector_size = io::BlockStorage::sector_size_bytes;

}  // namespace

void encode_header(const proto::Header& header, std::span<uint8_t, header_size_bytes> out) {
  uint8_t* at = out.data();
  std::memset(at, 0, header_size_bytes);
  store_u64(at + 0, header.checksum());
  store_u64(at + 8, header.parent());
  store_u64(at + 16, header.view());
  store_u64(at + 24, header.op());
  store_u64(at + 32, header.commit());
  store_u64(at + 40, header.timestamp_ns());
  store_u64(at + 48, header.body_checksum());
  store_u32(at + 56, header.body_size());
  at[60] = static_cast<uint8_t>(header.operation());
}

void decode_header(std::span<const uint8_t, header_size_bytes> in, proto::Header& header) {
  const uint8_t* at = in.data();
  header.set_checksum(load_u64(at + 0));
  header.set_parent(load_u64(at + 8));
  header.set_view(load_u64(at + 16));
  header.set_op(load_u64(at + 24));
  header.set_commit(load_u64(at + 32));
  header.set_timestamp_ns(load_u64(at + 40));
  header.set_body_checksum(load_u64(at + 48));
  header.set_body_size(load_u32(at + 56));
  // An unknown operation byte stays unknown: the checksum fails or the header is rejected.
  header.set_operation(proto::Operation_IsValid(at[60]) ? static_cast<proto::Operation>(at[60])
                                                        : proto::OPERATION_UNSPECIFIED);
}

uint64_t header_checksum(const proto::Header& header, uint64_t cluster_id) {
  std::array<uint8_t, 8 + header_size_bytes> bytes{};
  store_u64(bytes.data(), cluster_id);
  encode_header(header, std::span<uint8_t, header_size_bytes>(bytes.data() + 8, header_size_bytes));
  // Bytes 8..16 of the encoding are the checksum itself: not covered.
  return io::checksum(std::span<const uint8_t>(bytes.data() + 16, bytes.size() - 16)) ^
         io::checksum(std::span<const uint8_t>(bytes.data(), 8));
}

uint64_t body_checksum(std::string_view body) {
  return io::checksum(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

void seal_header(proto::Header& header, std::string_view body, uint64_t cluster_id) {
  header.set_body_checksum(body_checksum(body));
  header.set_body_size(static_cast<uint32_t>(body.size()));
  header.set_checksum(header_checksum(header, cluster_id));
}

bool header_valid(const proto::Header& header, uint64_t cluster_id) {
  return header.checksum() == header_checksum(header, cluster_id) &&
         header.operation() != proto::OPERATION_UNSPECIFIED;
}

bool body_matches(const proto::Header& header, std::string_view body) {
  return body.size() == header.body_size() && body_checksum(body) == header.body_checksum();
}

proto::Header root_header(uint64_t cluster_id) {
  proto::Header root;
  root.set_operation(proto::ROOT);
  seal_header(root, "", cluster_id);
  return root;
}

uint64_t round_up_to_sector(uint64_t size_bytes) {
  return (size_bytes + sector_size - 1) / sector_size * sector_size;
}

Layout::Layout(const Config& config)
    : wal_slots(config.wal_slots), checkpoint_areas(config.checkpoint_retention) {
  KEEL_ASSERT(wal_slots > 0);
  KEEL_ASSERT(checkpoint_areas > 0);
  superblock_offset_bytes = 0;
  headers_offset_bytes = Superblock::zone_size_bytes;
  prepares_offset_bytes = headers_offset_bytes + wal_slots * sector_size;
  // A prepare slot: a 16-byte slot header (checksum, flags), the header, the body.
  prepare_slot_size_bytes = round_up_to_sector(16 + config.message_size_bytes_max);
  checkpoints_offset_bytes = prepares_offset_bytes + wal_slots * prepare_slot_size_bytes;
  checkpoint_area_size_bytes = round_up_to_sector(config.snapshot_size_bytes_max);
  total_size_bytes = checkpoints_offset_bytes + checkpoint_areas * checkpoint_area_size_bytes;
}

uint64_t Layout::header_offset(uint64_t slot) const {
  KEEL_ASSERT(slot < wal_slots);
  return headers_offset_bytes + slot * sector_size;
}

uint64_t Layout::prepare_offset(uint64_t slot) const {
  KEEL_ASSERT(slot < wal_slots);
  return prepares_offset_bytes + slot * prepare_slot_size_bytes;
}

uint64_t Layout::checkpoint_offset(uint32_t area) const {
  KEEL_ASSERT(area < checkpoint_areas);
  return checkpoints_offset_bytes + area * checkpoint_area_size_bytes;
}

}  // namespace keel::vsr
