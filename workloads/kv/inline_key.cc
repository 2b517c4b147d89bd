#include "workloads/kv/inline_key.h"

#include <utility>

#include "io/assert.h"

namespace keel::kv {

InlineKey& InlineKey::operator=(const InlineKey& other) {
  if (this != &other) {
    InlineKey copy(other);
    release();
    take(copy);
  }
  return *this;
}

InlineKey& InlineKey::operator=(InlineKey&& other) noexcept {
  if (this != &other) {
    release();
    take(other);
  }
  return *this;
}

void InlineKey::assign(std::string_view bytes) {
  if (bytes.size() <= inline_size_bytes_max) {
    std::memcpy(bytes_, bytes.data(), bytes.size());
    bytes_[size_index] = static_cast<char>(bytes.size());
  } else {
    const Heap heap{new char[bytes.size()], bytes.size()};
    std::memcpy(heap.data, bytes.data(), bytes.size());
    std::memcpy(bytes_, &heap, sizeof(heap));
    bytes_[size_index] = static_cast<char>(heap_tag);
  }
  KEEL_ASSERT(view() == bytes);
}

// Moves other's bytes, or its heap pointer, here (this holds nothing) and leaves other empty.
void InlineKey::take(InlineKey& other) noexcept {
  std::memcpy(bytes_, other.bytes_, sizeof(bytes_));
  other.bytes_[size_index] = 0;
}

void InlineKey::release() noexcept {
  if (on_heap()) {
    Heap heap;
    std::memcpy(&heap, bytes_, sizeof(heap));
    delete[] heap.data;
  }
  bytes_[size_index] = 0;
}

}  // namespace keel::kv
