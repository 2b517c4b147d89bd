#pragma once
// The one checksum keel uses for data at rest and on the wire: XXH3-64 (libxxhash).

#include <cstdint>
#include <span>

namespace keel::io {

uint64_t checksum(std::span<const uint8_t> bytes);

}  // namespace keel::io
