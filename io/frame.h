#pragma once
// The wire frame shared by the simulator and the runtime: a fixed 24-byte little-endian header
// followed by a Protobuf body.
//
//   offset  size  field
//   0       8     checksum: XXH3-64 of bytes 8..24 of the header followed by the body
//   8       8     cluster_id
//   16      4     body_size_bytes
//   20      2     kind (the protocol's message type)
//   22      1     version (frame_version)
//   23      1     reserved, zero
//
// The checksum covers the header too, so a flipped bit anywhere is caught, including in the
// size field before it is trusted.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace keel::io {

inline constexpr uint64_t frame_header_size_bytes = 24;
inline constexpr uint64_t frame_body_size_bytes_max = 1 << 20;
inline constexpr uint8_t frame_version = 1;

struct FrameHeader {
  uint64_t checksum = 0;
  uint64_t cluster_id = 0;
  uint32_t body_size_bytes = 0;
  uint16_t kind = 0;
  uint8_t version = frame_version;
};

enum class FrameError : uint8_t {
  none = 0,
  too_short,      // fewer bytes than a header
  bad_version,    // header.version is not frame_version, or reserved is not zero
  bad_size,       // body size over the maximum or not matching the bytes given
  bad_checksum,   // header or body damaged
  wrong_cluster,  // a valid frame from another cluster
};

std::string_view frame_error_name(FrameError error);

// Appends header and body to out.
void encode_frame(uint64_t cluster_id, uint16_t kind, std::span<const uint8_t> body,
                  std::vector<uint8_t>& out);

struct DecodedFrame {
  FrameError error = FrameError::none;
  FrameHeader header;
  std::span<const uint8_t> body;  // Points into the decoded bytes.
};

// Decodes exactly one frame occupying all of bytes. Never trusts a field before the checksum
// has verified it, except the size, which is bounds-checked first.
DecodedFrame decode_frame(std::span<const uint8_t> bytes, uint64_t cluster_id);

// For stream transports: the total frame size announced by a header prefix, or 0 if fewer than
// frame_header_size_bytes are given or the announced size is over the maximum.
uint64_t frame_size_announced(std::span<const uint8_t> prefix);

}  // namespace keel::io
