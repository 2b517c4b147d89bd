#include "io/frame.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#define XXH_INLINE_ALL  // the test recomputes checksums without linking libxxhash
#include <xxhash.h>

namespace keel::io {
namespace {

constexpr uint64_t cluster = 0x6b65656c;

std::vector<uint8_t> body_of_size(size_t size) {
  std::vector<uint8_t> body(size);
  for (size_t i = 0; i < size; i++) body[i] = static_cast<uint8_t>(i * 37 + 11);
  return body;
}

std::vector<uint8_t> encode(uint64_t cluster_id, uint16_t kind, std::span<const uint8_t> body) {
  std::vector<uint8_t> out;
  encode_frame(cluster_id, kind, body, out);
  return out;
}

// Recomputes the checksum the way the format defines it (XXH3-64 of header bytes 8..24, then
// the body), so a test can forge a frame whose checksum is valid but whose fields are not.
void reseal(std::vector<uint8_t>& frame) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, frame.data() + 8, frame_header_size_bytes - 8);
  XXH3_64bits_update(&state, frame.data() + frame_header_size_bytes,
                     frame.size() - frame_header_size_bytes);
  const uint64_t checksum = XXH3_64bits_digest(&state);
  for (int i = 0; i < 8; i++) frame[i] = static_cast<uint8_t>(checksum >> (8 * i));
}

void store_u32(std::vector<uint8_t>& frame, size_t at, uint32_t value) {
  for (int i = 0; i < 4; i++) frame[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

TEST(Frame, RoundTripPreservesKindClusterAndBody) {
  const std::vector<uint8_t> body = body_of_size(300);
  const std::vector<uint8_t> frame = encode(cluster, 0xbeef, body);
  ASSERT_EQ(frame.size(), frame_header_size_bytes + body.size());

  const DecodedFrame decoded = decode_frame(frame, cluster);
  ASSERT_EQ(decoded.error, FrameError::none) << frame_error_name(decoded.error);
  EXPECT_EQ(decoded.header.cluster_id, cluster);
  EXPECT_EQ(decoded.header.kind, 0xbeef);
  EXPECT_EQ(decoded.header.body_size_bytes, body.size());
  EXPECT_EQ(decoded.header.version, frame_version);
  EXPECT_EQ(std::vector<uint8_t>(decoded.body.begin(), decoded.body.end()), body);
  // The body is a view into the decoded bytes, not a copy.
  EXPECT_EQ(decoded.body.data(), frame.data() + frame_header_size_bytes);
}

TEST(Frame, HeaderLayoutIsLittleEndianAsDocumented) {
  const std::vector<uint8_t> body = body_of_size(5);
  const std::vector<uint8_t> frame = encode(0x0807060504030201, 0x1234, body);
  const std::vector<uint8_t> cluster_bytes(frame.begin() + 8, frame.begin() + 16);
  EXPECT_EQ(cluster_bytes, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(frame[16], 5);
  EXPECT_EQ(frame[17], 0);
  EXPECT_EQ(frame[18], 0);
  EXPECT_EQ(frame[19], 0);
  EXPECT_EQ(frame[20], 0x34);
  EXPECT_EQ(frame[21], 0x12);
  EXPECT_EQ(frame[22], frame_version);
  EXPECT_EQ(frame[23], 0);
}

TEST(Frame, EmptyBodyRoundTrips) {
  const std::vector<uint8_t> frame = encode(cluster, 7, {});
  ASSERT_EQ(frame.size(), frame_header_size_bytes);
  const DecodedFrame decoded = decode_frame(frame, cluster);
  ASSERT_EQ(decoded.error, FrameError::none);
  EXPECT_EQ(decoded.header.kind, 7);
  EXPECT_TRUE(decoded.body.empty());
}

TEST(Frame, MaximumBodyRoundTrips) {
  const std::vector<uint8_t> body = body_of_size(frame_body_size_bytes_max);
  const std::vector<uint8_t> frame = encode(cluster, 1, body);
  const DecodedFrame decoded = decode_frame(frame, cluster);
  ASSERT_EQ(decoded.error, FrameError::none);
  EXPECT_EQ(decoded.header.body_size_bytes, frame_body_size_bytes_max);
  EXPECT_TRUE(std::equal(decoded.body.begin(), decoded.body.end(), body.begin(), body.end()));
}

TEST(Frame, EncodeAppendsSoFramesCanBeConcatenated) {
  const std::vector<uint8_t> first_body = body_of_size(10);
  const std::vector<uint8_t> second_body = body_of_size(3);
  std::vector<uint8_t> out;
  encode_frame(cluster, 1, first_body, out);
  const size_t first_size = out.size();
  encode_frame(cluster, 2, second_body, out);
  ASSERT_EQ(out.size(), 2 * frame_header_size_bytes + 13);

  const std::span<const uint8_t> all(out);
  const DecodedFrame first = decode_frame(all.first(first_size), cluster);
  const DecodedFrame second = decode_frame(all.subspan(first_size), cluster);
  ASSERT_EQ(first.error, FrameError::none);
  ASSERT_EQ(second.error, FrameError::none);
  EXPECT_EQ(first.header.kind, 1);
  EXPECT_EQ(second.header.kind, 2);
  EXPECT_EQ(std::vector<uint8_t>(second.body.begin(), second.body.end()), second_body);
}

TEST(Frame, EverySingleBitFlipIsRejected) {
  const std::vector<uint8_t> body = body_of_size(41);
  const std::vector<uint8_t> original = encode(cluster, 0x0102, body);
  for (size_t bit = 0; bit < original.size() * 8; bit++) {
    std::vector<uint8_t> frame = original;
    frame[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    const size_t byte = bit / 8;
    const FrameError error = decode_frame(frame, cluster).error;
    // A damaged size no longer matches the bytes given and is caught before the checksum; any
    // other flip (checksum, cluster id, kind, version, reserved, body) fails the checksum.
    const FrameError expected =
        byte >= 16 && byte < 20 ? FrameError::bad_size : FrameError::bad_checksum;
    EXPECT_EQ(error, expected) << "bit " << bit << " (byte " << byte << ") gave "
                               << frame_error_name(error);
  }
}

TEST(Frame, FrameFromAnotherClusterIsWrongCluster) {
  const std::vector<uint8_t> frame = encode(cluster, 3, body_of_size(8));
  const DecodedFrame decoded = decode_frame(frame, cluster + 1);
  EXPECT_EQ(decoded.error, FrameError::wrong_cluster);
  EXPECT_TRUE(decoded.body.empty());
}

TEST(Frame, DamagedFrameFromAnotherClusterIsBadChecksumNotWrongCluster) {
  std::vector<uint8_t> frame = encode(cluster, 3, body_of_size(8));
  frame.back() ^= 0x40;
  EXPECT_EQ(decode_frame(frame, cluster + 1).error, FrameError::bad_checksum);
}

TEST(Frame, WrongVersionWithValidChecksumIsBadVersion) {
  std::vector<uint8_t> frame = encode(cluster, 3, body_of_size(8));
  frame[22] = frame_version + 1;
  reseal(frame);
  EXPECT_EQ(decode_frame(frame, cluster).error, FrameError::bad_version);
}

TEST(Frame, NonZeroReservedByteWithValidChecksumIsBadVersion) {
  std::vector<uint8_t> frame = encode(cluster, 3, body_of_size(8));
  frame[23] = 1;
  reseal(frame);
  EXPECT_EQ(decode_frame(frame, cluster).error, FrameError::bad_version);
}

TEST(Frame, ResealHelperMatchesEncoder) {
  // Guards the forged-frame tests above: resealing an untouched frame changes nothing.
  const std::vector<uint8_t> original = encode(cluster, 3, body_of_size(8));
  std::vector<uint8_t> frame = original;
  reseal(frame);
  EXPECT_EQ(frame, original);
}

TEST(Frame, FewerBytesThanAHeaderAreTooShort) {
  const std::vector<uint8_t> frame = encode(cluster, 3, {});
  for (size_t size = 0; size < frame_header_size_bytes; size++) {
    EXPECT_EQ(decode_frame(std::span<const uint8_t>(frame).first(size), cluster).error,
              FrameError::too_short)
        << size << " bytes";
  }
}

TEST(Frame, TruncatedBodyIsBadSize) {
  const std::vector<uint8_t> frame = encode(cluster, 3, body_of_size(16));
  for (size_t size = frame_header_size_bytes; size < frame.size(); size++) {
    EXPECT_EQ(decode_frame(std::span<const uint8_t>(frame).first(size), cluster).error,
              FrameError::bad_size)
        << size << " bytes";
  }
}

TEST(Frame, TrailingBytesAreBadSize) {
  std::vector<uint8_t> frame = encode(cluster, 3, body_of_size(16));
  frame.push_back(0);
  EXPECT_EQ(decode_frame(frame, cluster).error, FrameError::bad_size);
}

TEST(Frame, AnnouncedBodyOverMaximumIsBadSizeEvenIfBytesMatch) {
  std::vector<uint8_t> frame = encode(cluster, 3, {});
  const uint32_t oversized = frame_body_size_bytes_max + 1;
  frame.resize(frame_header_size_bytes + oversized);
  store_u32(frame, 16, oversized);
  reseal(frame);
  EXPECT_EQ(decode_frame(frame, cluster).error, FrameError::bad_size);
}

TEST(Frame, SizeAnnouncedByAStreamPrefix) {
  const std::vector<uint8_t> frame = encode(cluster, 3, body_of_size(1000));
  const std::span<const uint8_t> bytes(frame);
  for (size_t size = 0; size < frame_header_size_bytes; size++) {
    EXPECT_EQ(frame_size_announced(bytes.first(size)), 0u) << size << " bytes";
  }
  EXPECT_EQ(frame_size_announced(bytes.first(frame_header_size_bytes)),
            frame_header_size_bytes + 1000);
  EXPECT_EQ(frame_size_announced(bytes.first(frame_header_size_bytes + 10)),
            frame_header_size_bytes + 1000);
  EXPECT_EQ(frame_size_announced(bytes), frame.size());
}

TEST(Frame, SizeAnnouncedIsZeroOverTheMaximumAndExactAtIt) {
  std::vector<uint8_t> header = encode(cluster, 3, {});
  store_u32(header, 16, frame_body_size_bytes_max);
  EXPECT_EQ(frame_size_announced(header), frame_header_size_bytes + frame_body_size_bytes_max);
  store_u32(header, 16, frame_body_size_bytes_max + 1);
  EXPECT_EQ(frame_size_announced(header), 0u);
  store_u32(header, 16, UINT32_MAX);
  EXPECT_EQ(frame_size_announced(header), 0u);
}

TEST(Frame, EveryErrorHasADistinctName) {
  const FrameError errors[] = {FrameError::none,         FrameError::too_short,
                               FrameError::bad_version,  FrameError::bad_size,
                               FrameError::bad_checksum, FrameError::wrong_cluster};
  std::vector<std::string_view> names;
  for (FrameError error : errors) {
    const std::string_view name = frame_error_name(error);
    EXPECT_NE(name, "unknown");
    for (std::string_view seen : names) EXPECT_NE(name, seen);
    names.push_back(name);
  }
}

}  // namespace
}  // namespace keel::io
