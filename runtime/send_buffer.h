#pragma once
// A socket's outgoing bytes, double-buffered: one batch is being sent (send() may take part of
// it, and is called again for the rest) while later bytes queue behind it. Shared by the message
// bus and the Redis front door.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "io/assert.h"

namespace keel::runtime {

class SendBuffer {
 public:
  // Appended bytes go out after everything before them.
  std::vector<uint8_t>& queued() { return queued_; }
  void append(std::string_view bytes) { queued_.insert(queued_.end(), bytes.begin(), bytes.end()); }

  // What the next send() carries: the rest of the batch in flight, else everything queued as a
  // new batch. Empty when nothing waits.
  std::span<const uint8_t> next() {
    if (offset_ == batch_.size()) {
      batch_.clear();
      batch_.swap(queued_);
      offset_ = 0;
    }
    return std::span<const uint8_t>(batch_).subspan(offset_);
  }

  // A send() took size_bytes of next().
  void sent(uint64_t size_bytes) {
    KEEL_ASSERT(size_bytes > 0 && size_bytes <= batch_.size() - offset_);
    offset_ += size_bytes;
  }

 private:
  std::vector<uint8_t> batch_;
  uint64_t offset_ = 0;
  std::vector<uint8_t> queued_;
};

}  // namespace keel::runtime
