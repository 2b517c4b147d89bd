#pragma once
// A key as the KV map holds it: up to 30 bytes inside the object, longer ones on the heap. Same
// size as std::string (32 bytes), whose inline limit is 15: a lookup of a key of 16 to 30 bytes
// (redis-benchmark's "key:000000012345" is 16) then compares bytes already in the map's slot
// instead of missing the cache once more for the key's heap copy. Redis makes the same bet with
// its embedded strings.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "absl/hash/hash.h"

namespace keel::kv {

class InlineKey {
 public:
  static constexpr size_t inline_size_bytes_max = 30;

  explicit InlineKey(std::string_view bytes) { assign(bytes); }
  InlineKey(const InlineKey& other) { assign(other.view()); }
  InlineKey(InlineKey&& other) noexcept { take(other); }
  InlineKey& operator=(const InlineKey& other);
  InlineKey& operator=(InlineKey&& other) noexcept;
  ~InlineKey() { release(); }

  std::string_view view() const {
    if (!on_heap()) return std::string_view(bytes_, static_cast<uint8_t>(bytes_[size_index]));
    Heap heap;
    std::memcpy(&heap, bytes_, sizeof(heap));
    return std::string_view(heap.data, heap.size_bytes);
  }
  size_t size() const { return view().size(); }
  bool on_heap() const { return static_cast<uint8_t>(bytes_[size_index]) == heap_tag; }

 private:
  // The last byte holds the size of inline bytes, or heap_tag for a Heap in the first bytes.
  static constexpr size_t size_index = inline_size_bytes_max + 1;
  static constexpr uint8_t heap_tag = 0xff;
  struct Heap {
    char* data;
    size_t size_bytes;
  };

  void assign(std::string_view bytes);
  void take(InlineKey& other) noexcept;
  void release() noexcept;

  alignas(8) char bytes_[inline_size_bytes_max + 2];
};

static_assert(sizeof(InlineKey) == 32);

// Hash and equality over InlineKey and std::string_view alike, so lookups take a key as it
// comes (a std::string in a command) without building an InlineKey.
struct InlineKeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view key) const { return absl::Hash<std::string_view>{}(key); }
  size_t operator()(const InlineKey& key) const { return (*this)(key.view()); }
};

struct InlineKeyEq {
  using is_transparent = void;
  static std::string_view view(std::string_view key) { return key; }
  static std::string_view view(const InlineKey& key) { return key.view(); }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return view(a) == view(b);
  }
};

}  // namespace keel::kv
