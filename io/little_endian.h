#pragma once
// Fixed-width little-endian integers in byte buffers: the encoding of every on-disk and on-wire
// header keel defines itself (frames, superblock copies, WAL slots).

#include <cstdint>

namespace keel::io {

inline void store_u64(uint8_t* at, uint64_t value) {
  for (int i = 0; i < 8; i++) at[i] = static_cast<uint8_t>(value >> (8 * i));
}

inline void store_u32(uint8_t* at, uint32_t value) {
  for (int i = 0; i < 4; i++) at[i] = static_cast<uint8_t>(value >> (8 * i));
}

inline uint64_t load_u64(const uint8_t* at) {
  uint64_t value = 0;
  for (int i = 0; i < 8; i++) value |= static_cast<uint64_t>(at[i]) << (8 * i);
  return value;
}

inline uint32_t load_u32(const uint8_t* at) {
  uint32_t value = 0;
  for (int i = 0; i < 4; i++) value |= static_cast<uint32_t>(at[i]) << (8 * i);
  return value;
}

}  // namespace keel::io
