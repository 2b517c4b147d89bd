// The body cache answers only for the op and header checksum it was given, and an entry is
// replaced by the op that shares it.

#include "core/vsr/body_cache.h"

#include <gtest/gtest.h>

namespace keel::vsr {
namespace {

TEST(BodyCache, FindsOnlyTheSameOpAndChecksum) {
  BodyCache cache(4);
  EXPECT_EQ(cache.find(1, 11), nullptr);
  cache.put(1, 11, "one");
  ASSERT_NE(cache.find(1, 11), nullptr);
  EXPECT_EQ(*cache.find(1, 11), "one");
  EXPECT_EQ(cache.find(1, 12), nullptr);  // another entry for op 1 (another view's)
  EXPECT_EQ(cache.find(5, 11), nullptr);  // the op that shares the entry
}

TEST(BodyCache, AnOpSharingTheEntryReplacesIt) {
  BodyCache cache(4);
  cache.put(1, 11, "one");
  cache.put(2, 22, "two");
  cache.put(5, 55, "five");
  EXPECT_EQ(cache.find(1, 11), nullptr);
  ASSERT_NE(cache.find(5, 55), nullptr);
  EXPECT_EQ(*cache.find(5, 55), "five");
  ASSERT_NE(cache.find(2, 22), nullptr);
  EXPECT_EQ(*cache.find(2, 22), "two");
}

TEST(BodyCache, TheRootIsNeverFound) {
  BodyCache cache(4);
  EXPECT_EQ(cache.find(0, 0), nullptr);
}

}  // namespace
}  // namespace keel::vsr
