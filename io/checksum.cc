#include "io/checksum.h"

#include <xxhash.h>

namespace keel::io {

uint64_t checksum(std::span<const uint8_t> bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

}  // namespace keel::io
