// libFuzzer target: the frame decoder never crashes on any bytes, accepts only what the encoder
// could have produced, and agrees with the stream-prefix size check.
// Build: cmake --preset fuzz && cmake --build --preset fuzz --target frame_fuzz
// Run:   build/fuzz/fuzz/frame_fuzz fuzz/corpus/frame -max_total_time=60

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "io/assert.h"
#include "io/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The first 8 bytes pick the cluster id the receiver expects; the rest is the wire.
  if (size < 8) return 0;
  uint64_t cluster_id;
  std::memcpy(&cluster_id, data, 8);
  const std::span<const uint8_t> wire(data + 8, size - 8);

  const keel::io::DecodedFrame frame = keel::io::decode_frame(wire, cluster_id);
  const uint64_t announced = keel::io::frame_size_announced(wire);
  if (frame.error != keel::io::FrameError::none) return 0;

  // Accepted: the size was announced correctly, and re-encoding gives back the same bytes.
  KEEL_ASSERT(announced == wire.size());
  KEEL_ASSERT(frame.header.cluster_id == cluster_id);
  KEEL_ASSERT(frame.body.size() == frame.header.body_size_bytes);
  std::vector<uint8_t> again;
  keel::io::encode_frame(cluster_id, frame.header.kind, frame.body, again);
  KEEL_ASSERT(again.size() == wire.size());
  KEEL_ASSERT(std::memcmp(again.data(), wire.data(), wire.size()) == 0);
  return 0;
}
