#include "sim/vsr_commits.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

namespace keel::sim {
namespace {

// A start_view for view, at commit, naming (op, checksum) pairs.
vsr::proto::StartView start_view(uint64_t view, uint64_t commit, uint64_t op,
                                 std::initializer_list<std::pair<uint64_t, uint64_t>> headers) {
  vsr::proto::StartView start;
  start.set_view(view);
  start.set_commit(commit);
  start.set_op(op);
  for (const auto& [header_op, checksum] : headers) {
    vsr::proto::Header* header = start.add_headers();
    header->set_op(header_op);
    header->set_checksum(checksum);
  }
  return start;
}

// Ops 1..3 committed in view 2 by its primary, replica 2.
VsrCommitOracle committed_through_3() {
  VsrCommitOracle oracle;
  for (uint64_t op = 1; op <= 3; op++) EXPECT_EQ(oracle.counted(2, 2, op, 0xa0 + op), std::nullopt);
  return oracle;
}

// The holders a primary may count: the backups whose audited acknowledgements, in its view,
// reach the op (they are cumulative).
TEST(VsrCommits, AcknowledgementsCountPerViewForOpsUpToTheOneNamed) {
  VsrCommitOracle oracle;
  oracle.acknowledged(0, 3, 10);
  oracle.acknowledged(1, 3, 7);
  oracle.acknowledged(1, 2, 20);  // an older view counts nothing in view 3
  EXPECT_EQ(oracle.acknowledged_by(3, 7, 2), 2u);
  EXPECT_EQ(oracle.acknowledged_by(3, 8, 2), 1u);
  EXPECT_EQ(oracle.acknowledged_by(3, 7, 0), 1u);  // the primary's own view of itself is apart
  EXPECT_EQ(oracle.acknowledged_by(4, 1, 2), 0u);
  oracle.acknowledged(0, 3, 5);  // a lower acknowledgement takes back nothing
  EXPECT_EQ(oracle.acknowledged_by(3, 10, 2), 1u);
  // Only the newest views are kept, and views only move forward.
  for (uint64_t view = 4; view < 20; view++) oracle.acknowledged(0, view, 1);
  EXPECT_EQ(oracle.acknowledged_by(3, 1, 2), 1u);
  EXPECT_EQ(oracle.acknowledged_by(19, 1, 2), 1u);
}

TEST(VsrCommits, AnOpCountedAgainWithTheSameHeaderIsNoContradiction) {
  VsrCommitOracle oracle = committed_through_3();
  // A later view's primary counts it again (VRR 4.2: it carried the op over).
  EXPECT_EQ(oracle.counted(0, 3, 2, 0xa2), std::nullopt);
  EXPECT_EQ(oracle.committed_ops(), 3u);
}

TEST(VsrCommits, TwoDifferentOpsCommittedAtOneNumberAreCaught) {
  VsrCommitOracle oracle = committed_through_3();
  const std::optional<std::string> why = oracle.counted(0, 3, 2, 0xbad);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("two different ops committed at one number"), std::string::npos) << *why;
}

TEST(VsrCommits, ACountWithoutAHeaderIsCaught) {
  VsrCommitOracle oracle;
  EXPECT_TRUE(oracle.counted(0, 1, 1, 0).has_value());
}

TEST(VsrCommits, AnOpAppliedWithAnotherHeaderThanItWasCommittedWithIsCaught) {
  const VsrCommitOracle oracle = committed_through_3();
  EXPECT_EQ(oracle.applied(1, 3, 0xa3), std::nullopt);
  EXPECT_EQ(oracle.applied(1, 9, 0xfff), std::nullopt);  // not known committed: nothing to say
  EXPECT_TRUE(oracle.applied(1, 3, 0xbad).has_value());
}

// VRR 4.2: the new primary's log holds every committed op.
TEST(VsrCommits, AStartViewThatKeepsEveryCommittedOpPasses) {
  VsrCommitOracle oracle = committed_through_3();
  EXPECT_EQ(oracle.announced(0, start_view(3, 1, 4, {{1, 0xa1}, {2, 0xa2}, {3, 0xa3}, {4, 0xf4}})),
            std::nullopt);
  // Ops at or below the commit point need not be named; the anchor may go unnamed.
  EXPECT_EQ(oracle.announced(0, start_view(3, 3, 3, {})), std::nullopt);
}

TEST(VsrCommits, AStartViewWhoseLogEndsBeforeACommittedOpIsCaught) {
  VsrCommitOracle oracle = committed_through_3();
  const std::optional<std::string> why =
      oracle.announced(0, start_view(3, 1, 2, {{1, 0xa1}, {2, 0xa2}}));
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("drops op 3"), std::string::npos) << *why;
}

TEST(VsrCommits, AStartViewThatReplacesOrSkipsACommittedOpIsCaught) {
  VsrCommitOracle oracle = committed_through_3();
  EXPECT_TRUE(
      oracle.announced(0, start_view(3, 1, 3, {{1, 0xa1}, {2, 0xbad}, {3, 0xa3}})).has_value());
  EXPECT_TRUE(oracle.announced(0, start_view(3, 1, 3, {{1, 0xa1}, {3, 0xa3}})).has_value());
  // The anchor, named, must match too.
  EXPECT_TRUE(oracle.announced(0, start_view(3, 2, 3, {{2, 0xbad}, {3, 0xa3}})).has_value());
}

TEST(VsrCommits, AStartViewOfAnOlderViewIsNotHeldToLaterCommits) {
  VsrCommitOracle oracle = committed_through_3();
  EXPECT_EQ(oracle.counted(0, 6, 4, 0xa4), std::nullopt);
  // The primary of view 5 answers late with its log: stale, and it never held op 4.
  EXPECT_EQ(oracle.announced(2, start_view(5, 1, 3, {{1, 0xa1}, {2, 0xa2}, {3, 0xa3}})),
            std::nullopt);
  EXPECT_TRUE(
      oracle.announced(2, start_view(6, 1, 3, {{1, 0xa1}, {2, 0xa2}, {3, 0xa3}})).has_value());
}

}  // namespace
}  // namespace keel::sim
