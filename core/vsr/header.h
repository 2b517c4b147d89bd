#pragma once
// Prepare headers at rest and their checksums, and the data file's layout.
//
// A header is 64 bytes on disk, little-endian: checksum u64 | parent u64 | view u64 | op u64 |
// commit u64 | timestamp_ns u64 | body_checksum u64 | body_size u32 | operation u8 | 3 zeros.
// Its checksum is XXH3-64 over the cluster id and bytes 8..64, so a header from another cluster
// never verifies; the body is covered through body_checksum.

#include <cstdint>
#include <span>
#include <string_view>

#include "core/vsr/config.h"
#include "core/vsr/messages.pb.h"

namespace keel::vsr {

inline constexpr uint64_t header_size_bytes = 64;

uint64_t header_checksum(const proto::Header& header, uint64_t cluster_id);
uint64_t body_checksum(std::string_view body);
// Sets the header's body fields and then its checksum.
void seal_header(proto::Header& header, std::string_view body, uint64_t cluster_id);
// The checksum is right and the body matches it.
bool header_valid(const proto::Header& header, uint64_t cluster_id);
bool body_matches(const proto::Header& header, std::string_view body);
// Op 0 of every log: the same on every replica of a cluster.
proto::Header root_header(uint64_t cluster_id);

void encode_header(const proto::Header& header, std::span<uint8_t, header_size_bytes> out);
void decode_header(std::span<const uint8_t, header_size_bytes> in, proto::Header& header);

// The data file: superblock copies, the redundant header ring (one sector per WAL slot), the
// prepare ring (one fixed-size slot per WAL slot) and checkpoint_retention checkpoint areas.
struct Layout {
  uint64_t superblock_offset_bytes = 0;
  uint64_t headers_offset_bytes = 0;
  uint64_t prepares_offset_bytes = 0;
  uint64_t prepare_slot_size_bytes = 0;
  uint64_t checkpoints_offset_bytes = 0;
  uint64_t checkpoint_area_size_bytes = 0;
  uint64_t total_size_bytes = 0;
  uint64_t wal_slots = 0;
  uint32_t checkpoint_areas = 0;

  explicit Layout(const Config& config);
  uint64_t header_offset(uint64_t slot) const;
  uint64_t prepare_offset(uint64_t slot) const;
  uint64_t checkpoint_offset(uint32_t area) const;
};

uint64_t round_up_to_sector(uint64_t size_bytes);

}  // namespace keel::vsr
