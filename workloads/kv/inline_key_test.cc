// InlineKey: every size reads back as written, on either side of the inline limit, through
// copies, moves and assignments; hashing and equality agree with std::string_view's.

#include "workloads/kv/inline_key.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace keel::kv {
namespace {

std::string text_of_size(size_t size) {
  std::string text;
  for (size_t i = 0; i < size; i++) text.push_back(static_cast<char>('a' + i % 26));
  return text;
}

TEST(InlineKey, EverySizeReadsBackOnTheRightSideOfTheLimit) {
  for (size_t size = 0; size <= 100; size++) {
    const std::string text = text_of_size(size);
    const InlineKey key(text);
    EXPECT_EQ(key.view(), text);
    EXPECT_EQ(key.size(), size);
    EXPECT_EQ(key.on_heap(), size > InlineKey::inline_size_bytes_max) << size;
  }
  // Bytes of any value, zero included, and a byte equal to the heap tag.
  const std::string binary("\0\xff\x01\xff", 4);
  EXPECT_EQ(InlineKey(binary).view(), binary);
}

TEST(InlineKey, CopiesMovesAndAssignmentsKeepTheBytes) {
  for (const size_t size : {0, 5, 30, 31, 200}) {
    const std::string text = text_of_size(size);
    InlineKey original(text);
    InlineKey copy(original);
    EXPECT_EQ(copy.view(), text);
    InlineKey moved(std::move(copy));
    EXPECT_EQ(moved.view(), text);
    EXPECT_EQ(copy.view(), "");  // NOLINT: a moved-from key is empty
    for (const size_t other_size : {3, 64}) {
      InlineKey assigned(text_of_size(other_size));
      assigned = original;
      EXPECT_EQ(assigned.view(), text);
      InlineKey move_assigned(text_of_size(other_size));
      move_assigned = std::move(assigned);
      EXPECT_EQ(move_assigned.view(), text);
    }
    original = original;  // NOLINT: self-assignment keeps the key
    EXPECT_EQ(original.view(), text);
  }
}

TEST(InlineKey, MapLooksUpByStringViewAcrossRehashes) {
  absl::flat_hash_map<InlineKey, int, InlineKeyHash, InlineKeyEq> map;
  std::vector<std::string> keys;
  for (int i = 0; i < 2000; i++)
    keys.push_back("key:" + std::string(i % 40, 'x') + std::to_string(i));
  for (size_t i = 0; i < keys.size(); i++) map.emplace(InlineKey(keys[i]), static_cast<int>(i));
  ASSERT_EQ(map.size(), keys.size());
  for (size_t i = 0; i < keys.size(); i++) {
    const auto found = map.find(std::string_view(keys[i]));
    ASSERT_NE(found, map.end());
    EXPECT_EQ(found->second, static_cast<int>(i));
    EXPECT_EQ(found->first.view(), keys[i]);
    EXPECT_EQ(InlineKeyHash{}(found->first), InlineKeyHash{}(std::string_view(keys[i])));
  }
  EXPECT_FALSE(map.contains(std::string_view("key:absent")));
  EXPECT_TRUE(InlineKeyEq{}(InlineKey("same"), std::string_view("same")));
  EXPECT_FALSE(InlineKeyEq{}(InlineKey("same"), std::string_view("sane")));
}

}  // namespace
}  // namespace keel::kv
