#include "io/frame.h"

#define XXH_STATIC_LINKING_ONLY  // for a stack-allocated XXH3_state_t
#include <xxhash.h>

#include <cstring>

#include "io/assert.h"
#include "io/little_endian.h"

namespace keel::io {
namespace {

uint64_t frame_checksum(const uint8_t* header, std::span<const uint8_t> body) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, header + 8, frame_header_size_bytes - 8);
  XXH3_64bits_update(&state, body.data(), body.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace

std::string_view frame_error_name(FrameError error) {
  switch (error) {
    case FrameError::none:
      return "none";
    case FrameError::too_short:
      return "too_short";
    case FrameError::bad_version:
      return "bad_version";
    case FrameError::bad_size:
      return "bad_size";
    case FrameError::bad_checksum:
      return "bad_checksum";
    case FrameError::wrong_cluster:
      return "wrong_cluster";
  }
  return "unknown";
}

void encode_frame(uint64_t cluster_id, uint16_t kind, std::span<const uint8_t> body,
                  std::vector<uint8_t>& out) {
  KEEL_ASSERT(body.size() <= frame_body_size_bytes_max);
  const size_t start = out.size();
  out.resize(start + frame_header_size_bytes + body.size());
  uint8_t* header = out.data() + start;
  store_u64(header + 8, cluster_id);
  store_u32(header + 16, static_cast<uint32_t>(body.size()));
  header[20] = static_cast<uint8_t>(kind);
  header[21] = static_cast<uint8_t>(kind >> 8);
  header[22] = frame_version;
  header[23] = 0;
  if (!body.empty()) std::memcpy(header + frame_header_size_bytes, body.data(), body.size());
  store_u64(header, frame_checksum(header, body));
}

uint64_t frame_size_announced(std::span<const uint8_t> prefix) {
  if (prefix.size() < frame_header_size_bytes) return 0;
  const uint32_t body_size_bytes = load_u32(prefix.data() + 16);
  if (body_size_bytes > frame_body_size_bytes_max) return 0;
  return frame_header_size_bytes + body_size_bytes;
}

DecodedFrame decode_frame(std::span<const uint8_t> bytes, uint64_t cluster_id) {
  DecodedFrame frame;
  if (bytes.size() < frame_header_size_bytes) {
    frame.error = FrameError::too_short;
    return frame;
  }
  const uint8_t* header = bytes.data();
  const uint32_t body_size_bytes = load_u32(header + 16);
  if (body_size_bytes > frame_body_size_bytes_max ||
      bytes.size() != frame_header_size_bytes + body_size_bytes) {
    frame.error = FrameError::bad_size;
    return frame;
  }
  const std::span<const uint8_t> body = bytes.subspan(frame_header_size_bytes);
  if (load_u64(header) != frame_checksum(header, body)) {
    frame.error = FrameError::bad_checksum;
    return frame;
  }
  if (header[22] != frame_version || header[23] != 0) {
    frame.error = FrameError::bad_version;
    return frame;
  }
  frame.header.checksum = load_u64(header);
  frame.header.cluster_id = load_u64(header + 8);
  frame.header.body_size_bytes = body_size_bytes;
  frame.header.kind = static_cast<uint16_t>(header[20] | (header[21] << 8));
  frame.header.version = header[22];
  if (frame.header.cluster_id != cluster_id) {
    frame.error = FrameError::wrong_cluster;
    return frame;
  }
  frame.body = body;
  return frame;
}

}  // namespace keel::io
