#pragma once
// Fixed-width little-endian integers in byte buffers: the encoding of every on-disk and on-wire
// header keel defines itself (frames, superblock copies, WAL slots).

#include <bit>
#include <cstdint>
#include <cstring>

namespace keel::io {

// On a little-endian host these are single loads and stores (the byte loops were not merged
// into one by the compiler, and headers are encoded on every message and WAL write).
inline constexpr bool host_little_endian = std::endian::native == std::endian::little;

inline void store_u64(uint8_t* at, uint64_t value) {
  if constexpr (host_little_endian) {
    std::memcpy(at, &value, sizeof(value));
  } else {
    for (int i = 0; i < 8; i++) at[i] = static_cast<uint8_t>(value >> (8 * i));
  }
}

inline void store_u32(uint8_t* at, uint32_t value) {
  if constexpr (host_little_endian) {
    std::memcpy(at, &value, sizeof(value));
  } else {
    for (int i = 0; i < 4; i++) at[i] = static_cast<uint8_t>(value >> (8 * i));
  }
}

inline uint64_t load_u64(const uint8_t* at) {
  uint64_t value = 0;
  if constexpr (host_little_endian) {
    std::memcpy(&value, at, sizeof(value));
  } else {
    for (int i = 0; i < 8; i++) value |= static_cast<uint64_t>(at[i]) << (8 * i);
  }
  return value;
}

inline uint32_t load_u32(const uint8_t* at) {
  uint32_t value = 0;
  if constexpr (host_little_endian) {
    std::memcpy(&value, at, sizeof(value));
  } else {
    for (int i = 0; i < 4; i++) value |= static_cast<uint32_t>(at[i]) << (8 * i);
  }
  return value;
}

}  // namespace keel::io
