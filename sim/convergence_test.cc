#include "sim/convergence.h"

#include <gtest/gtest.h>

namespace keel::sim {
namespace {

TEST(Convergence, AcceptsReplicasThatAgree) {
  ConvergenceChecker checker;
  for (uint32_t replica = 0; replica < 3; replica++) {
    for (uint64_t op = 1; op <= 5; op++) {
      EXPECT_FALSE(checker.committed(replica, op, 100 + op, 200 + op)) << replica << " " << op;
    }
  }
  // A restarted replica replays the same ops to the same states.
  EXPECT_FALSE(checker.committed(1, 3, 103, 203));
  EXPECT_EQ(checker.reports(), 16u);
}

TEST(Convergence, RejectsAnOpCommittedWithOtherContents) {
  ConvergenceChecker checker;
  EXPECT_FALSE(checker.committed(0, 7, 0xaaaa, 1));
  const auto violation = checker.committed(2, 7, 0xbbbb, 1);
  ASSERT_TRUE(violation);
  EXPECT_NE(violation->find("replica 2 committed op 7"), std::string::npos) << *violation;
}

TEST(Convergence, RejectsDivergentStateAfterTheSameOp) {
  // Same op, same header, different state: the state machine was not deterministic, or an op
  // was applied twice.
  ConvergenceChecker checker;
  EXPECT_FALSE(checker.committed(0, 4, 0xaaaa, 10));
  const auto violation = checker.committed(1, 4, 0xaaaa, 11);
  ASSERT_TRUE(violation);
  EXPECT_NE(violation->find("holds state"), std::string::npos) << *violation;
}

TEST(Convergence, ACommittedPrefixNeverChangesAcrossIncarnations) {
  ConvergenceChecker checker;
  EXPECT_FALSE(checker.committed(0, 1, 1, 1));
  EXPECT_FALSE(checker.committed(0, 2, 2, 2));
  // The same replica, restarted, commits op 2 again as something else.
  EXPECT_TRUE(checker.committed(0, 2, 3, 2));
}

}  // namespace
}  // namespace keel::sim
