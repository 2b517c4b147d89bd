// InlineCallback runs what it holds once called, moves it along, and destroys it exactly once,
// whether the callable fits in place or had to go to the heap.

#include "sim/inline_callback.h"

#include <gtest/gtest.h>

#include <array>
#include <memory>

namespace keel::sim {
namespace {

// Counts its live copies through a shared counter.
struct Tracked {
  std::shared_ptr<int> live;
  int* calls;
  explicit Tracked(int* calls_in) : live(std::make_shared<int>(0)), calls(calls_in) {}
  void operator()() { ++*calls; }
};

TEST(InlineCallback, RunsASmallCallableKeptInPlace) {
  int calls = 0;
  InlineCallback callback([&calls] { calls++; });
  ASSERT_TRUE(callback);
  callback();
  callback();
  EXPECT_EQ(calls, 2);
}

TEST(InlineCallback, RunsALargeCallableKeptOnTheHeap) {
  std::array<uint64_t, 64> big{};
  big[63] = 7;
  uint64_t seen = 0;
  InlineCallback callback([big, &seen] { seen = big[63]; });
  callback();
  EXPECT_EQ(seen, 7u);
}

TEST(InlineCallback, MovingKeepsOneLiveCallableAndEmptiesTheSource) {
  int calls = 0;
  Tracked tracked(&calls);
  std::weak_ptr<int> watch = tracked.live;
  {
    InlineCallback first(std::move(tracked));
    InlineCallback second(std::move(first));
    EXPECT_FALSE(first);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    InlineCallback third;
    third = std::move(second);
    third();
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(watch.use_count(), 1);
  }
  EXPECT_TRUE(watch.expired());
}

TEST(InlineCallback, ResetAndEmplaceDestroyWhatWasHeld) {
  int calls = 0;
  Tracked tracked(&calls);
  std::weak_ptr<int> watch = tracked.live;
  InlineCallback callback(std::move(tracked));
  callback.emplace([&calls] { calls += 10; });
  EXPECT_TRUE(watch.expired());
  callback();
  EXPECT_EQ(calls, 10);
  callback.reset();
  EXPECT_FALSE(callback);
}

}  // namespace
}  // namespace keel::sim
