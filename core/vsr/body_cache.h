#pragma once
// Prepare bodies this replica wrote recently, kept in memory so that committing an op need not
// read its body back from disk: the body is applied only if its header checksum matches, so a
// cached body is exactly the one the disk was asked to hold. A fixed number of entries, indexed
// by op: memory is bounded by entries * message_size_bytes_max and never grows with the run.
// A miss costs nothing but the read the replica does anyway.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keel::vsr {

class BodyCache {
 public:
  explicit BodyCache(uint32_t entries);

  // Replaces whatever op shared the entry. op 0 (the root) has no body.
  void put(uint64_t op, uint64_t header_checksum, std::string_view body);
  // The body of op if held with this header checksum, else nullptr. Valid until the next put.
  const std::string* find(uint64_t op, uint64_t header_checksum) const;

 private:
  struct Entry {
    uint64_t op = 0;  // 0: empty
    uint64_t header_checksum = 0;
    std::string body;  // its capacity is reused by later puts
  };
  std::vector<Entry> entries_;
};

}  // namespace keel::vsr
