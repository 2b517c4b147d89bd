#include "core/vsr/body_cache.h"

#include "io/assert.h"

namespace keel::vsr {

BodyCache::BodyCache(uint32_t entries) : entries_(entries) { KEEL_ASSERT(entries > 0); }

void BodyCache::put(uint64_t op, uint64_t header_checksum, std::string_view body) {
  KEEL_ASSERT(op > 0);
  Entry& entry = entries_[op % entries_.size()];
  entry.op = op;
  entry.header_checksum = header_checksum;
  entry.body.assign(body);
}

const std::string* BodyCache::find(uint64_t op, uint64_t header_checksum) const {
  const Entry& entry = entries_[op % entries_.size()];
  if (op == 0 || entry.op != op || entry.header_checksum != header_checksum) return nullptr;
  return &entry.body;
}

}  // namespace keel::vsr
