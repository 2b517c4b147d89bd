#include "sim/world.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace keel::sim {
namespace {

TEST(StorageFaultBudget, FaultsMaxIsAMinorityOfReplicas) {
  const uint32_t expected[] = {0, 0, 0, 1, 1, 2, 2, 3};
  for (uint32_t replicas = 0; replicas < 8; replicas++) {
    EXPECT_EQ(StorageFaultBudget(replicas).faults_max(), expected[replicas])
        << replicas << " replicas";
  }
}

TEST(StorageFaultBudget, NothingIsAllowedWhenFaultsMaxIsZero) {
  for (uint32_t replicas : {1u, 2u}) {
    StorageFaultBudget budget(replicas);
    EXPECT_FALSE(budget.allows(0, 0, 1));
    EXPECT_FALSE(budget.allows(1, 5, 1));
    EXPECT_FALSE(budget.allows_wipe(0));
  }
}

TEST(StorageFaultBudget, WithThreeReplicasADomainIsFaultyOnOneNodeOnly) {
  StorageFaultBudget budget(3);
  ASSERT_TRUE(budget.allows(0, 7, 1));
  budget.mark(0, 7, 1);
  EXPECT_TRUE(budget.faulty(0, 7));
  EXPECT_FALSE(budget.faulty(1, 7));
  EXPECT_FALSE(budget.faulty(0, 8));
  EXPECT_TRUE(budget.allows(0, 7, 1));  // More faults on the same node are fine.
  EXPECT_TRUE(budget.allows(0, 8, 1));
  EXPECT_FALSE(budget.allows(1, 7, 1));
  EXPECT_FALSE(budget.allows(2, 7, 1));
  EXPECT_TRUE(budget.allows(1, 8, 1));  // Another domain is independent.
}

TEST(StorageFaultBudget, ARangeIsRefusedIfAnyOfItsSectorsIsRefused) {
  StorageFaultBudget budget(3);
  budget.mark(0, 10, 1);
  EXPECT_FALSE(budget.allows(1, 8, 3));
  EXPECT_FALSE(budget.allows(1, 10, 5));
  EXPECT_TRUE(budget.allows(1, 11, 5));
  EXPECT_TRUE(budget.allows(1, 5, 5));
}

TEST(StorageFaultBudget, WithFiveReplicasTwoNodesMayShareAFaultyDomain) {
  StorageFaultBudget budget(5);
  budget.mark(0, 3, 1);
  ASSERT_TRUE(budget.allows(1, 3, 1));
  budget.mark(1, 3, 1);
  EXPECT_FALSE(budget.allows(2, 3, 1));
  EXPECT_FALSE(budget.allows(4, 3, 1));
  EXPECT_TRUE(budget.allows(0, 3, 1));
  EXPECT_TRUE(budget.allows(1, 3, 1));
}

TEST(StorageFaultBudget, HealFreesTheDomainForOtherNodes) {
  StorageFaultBudget budget(3);
  budget.mark(0, 7, 1);
  budget.heal(0, 7, 1);
  EXPECT_FALSE(budget.faulty(0, 7));
  EXPECT_FALSE(budget.node_faulty(0));
  EXPECT_TRUE(budget.allows(1, 7, 1));
  budget.mark(1, 7, 1);
  EXPECT_FALSE(budget.allows(0, 7, 1));
}

TEST(StorageFaultBudget, MarkingTheSameSectorTwiceIsHealedByOneHeal) {
  StorageFaultBudget budget(3);
  budget.mark(0, 7, 1);
  budget.mark(0, 7, 1);
  budget.mark(0, 6, 3);  // Overlaps sector 7 again.
  budget.heal(0, 6, 3);
  EXPECT_FALSE(budget.node_faulty(0));
  EXPECT_TRUE(budget.allows(1, 7, 1));
}

TEST(StorageFaultBudget, HealOnlyAffectsItsOwnNodeAndRange) {
  StorageFaultBudget budget(5);
  budget.mark(0, 1, 4);  // Sectors 1..4.
  budget.mark(1, 2, 1);
  budget.heal(0, 2, 2);  // Sectors 2 and 3.
  EXPECT_TRUE(budget.faulty(0, 1));
  EXPECT_FALSE(budget.faulty(0, 2));
  EXPECT_FALSE(budget.faulty(0, 3));
  EXPECT_TRUE(budget.faulty(0, 4));
  EXPECT_TRUE(budget.faulty(1, 2));
  EXPECT_TRUE(budget.node_faulty(0));
  budget.heal(2, 0, 10);  // A node with nothing to heal.
  EXPECT_TRUE(budget.faulty(1, 2));
}

TEST(StorageFaultBudget, NodeFaultyTracksOutstandingFaults) {
  StorageFaultBudget budget(3);
  EXPECT_FALSE(budget.node_faulty(0));
  budget.mark(0, 1, 2);
  EXPECT_TRUE(budget.node_faulty(0));
  EXPECT_FALSE(budget.node_faulty(1));
  budget.heal(0, 1, 1);
  EXPECT_TRUE(budget.node_faulty(0));
  budget.heal(0, 2, 1);
  EXPECT_FALSE(budget.node_faulty(0));
}

TEST(StorageFaultBudget, SetDomainOfGroupsSectorsIntoOneDomain) {
  StorageFaultBudget budget(3);
  budget.set_domain_of([](uint64_t sector) { return sector / 4; });
  budget.mark(0, 1, 1);
  EXPECT_FALSE(budget.allows(1, 0, 1));
  EXPECT_FALSE(budget.allows(1, 2, 1));
  EXPECT_FALSE(budget.allows(2, 3, 1));
  EXPECT_TRUE(budget.allows(1, 4, 1));
  // Faultiness itself stays per sector.
  EXPECT_TRUE(budget.faulty(0, 1));
  EXPECT_FALSE(budget.faulty(0, 2));
  budget.heal(0, 1, 1);
  EXPECT_TRUE(budget.allows(1, 2, 1));
}

// Copies of one structure (VSR's superblock): any of them may be faulty on a node, never all.
TEST(StorageFaultBudget, TheLastIntactCopyOnANodeIsNeverFaulted) {
  StorageFaultBudget budget(3);
  budget.set_copy_sectors({0, 1, 2, 3});
  budget.mark(0, 0, 1);
  budget.mark(0, 1, 2);
  EXPECT_FALSE(budget.allows(0, 3, 1));  // the last one
  EXPECT_FALSE(budget.allows(0, 2, 5));  // a range that takes it
  EXPECT_TRUE(budget.allows(0, 4, 1));   // other sectors are as before
  EXPECT_TRUE(budget.allows(1, 3, 1));   // and other nodes
  budget.heal(0, 1, 1);
  EXPECT_TRUE(budget.allows(0, 3, 1));

  StorageFaultBudget fresh(3);
  fresh.set_copy_sectors({0, 1, 2, 3});
  EXPECT_FALSE(fresh.allows(1, 0, 4));  // one range that takes them all
  EXPECT_TRUE(fresh.allows(1, 0, 3));
  EXPECT_FALSE(fresh.allows_both(1, 0, 2, 2, 2));  // or two (seeds 6552, 8652: a misdirection)
  EXPECT_TRUE(fresh.allows_both(1, 0, 2, 8, 2));
}

TEST(StorageFaultBudget, DomainStaysFaultyUntilEveryFaultySectorInItIsHealed) {
  StorageFaultBudget budget(3, [](uint64_t sector) { return sector / 4; });
  budget.mark(0, 1, 1);
  budget.mark(0, 2, 1);
  budget.heal(0, 1, 1);
  EXPECT_FALSE(budget.allows(1, 3, 1));
  budget.heal(0, 2, 1);
  EXPECT_TRUE(budget.allows(1, 3, 1));
}

TEST(StorageFaultBudget, ConstructorDomainOfIsUsed) {
  StorageFaultBudget budget(3, [](uint64_t) { return uint64_t{0}; });  // One domain for all.
  budget.mark(0, 100, 1);
  EXPECT_FALSE(budget.allows(1, 5000, 1));
}

TEST(StorageFaultBudget, AWipeIsAllowedOnceWithinTheBound) {
  StorageFaultBudget budget(3);
  ASSERT_TRUE(budget.allows_wipe(0));
  budget.mark_wiped(0);
  EXPECT_FALSE(budget.allows_wipe(0));  // Already wiped.
  EXPECT_FALSE(budget.allows_wipe(1));  // A second wiped node would exceed f = 1.
  EXPECT_TRUE(budget.node_faulty(0));
  EXPECT_TRUE(budget.faulty(0, 0));
  EXPECT_TRUE(budget.faulty(0, 123456));
  EXPECT_FALSE(budget.faulty(1, 0));
}

TEST(StorageFaultBudget, AWipedNodeCountsAsFaultyInEveryDomain) {
  StorageFaultBudget budget(3);
  budget.mark_wiped(0);
  EXPECT_FALSE(budget.allows(1, 0, 1));
  EXPECT_FALSE(budget.allows(2, 999, 1));
  EXPECT_TRUE(budget.allows(0, 5, 1));
}

TEST(StorageFaultBudget, WipeIsRefusedWhileAnotherNodeHasAFaultyDomain) {
  StorageFaultBudget budget(3);
  budget.mark(1, 5, 1);
  EXPECT_FALSE(budget.allows_wipe(0));
  EXPECT_FALSE(budget.allows_wipe(2));
  EXPECT_TRUE(budget.allows_wipe(1));  // Its own faults are subsumed by the wipe.
  budget.heal(1, 5, 1);
  EXPECT_TRUE(budget.allows_wipe(0));
}

TEST(StorageFaultBudget, WithFiveReplicasTwoWipesAreAllowedButNotThree) {
  StorageFaultBudget budget(5);
  budget.mark_wiped(0);
  ASSERT_TRUE(budget.allows_wipe(1));
  budget.mark_wiped(1);
  EXPECT_FALSE(budget.allows_wipe(2));
  EXPECT_FALSE(budget.allows(2, 0, 1));
}

TEST(StorageFaultBudgetDeathTest, MarkingBeyondTheBudgetAsserts) {
  StorageFaultBudget budget(3);
  budget.mark(0, 7, 1);
  EXPECT_DEATH(budget.mark(1, 7, 1), "allows");
}

TEST(World, FaultIsCountedAndTraced) {
  Trace trace;
  World world(1, 3, trace);
  EXPECT_EQ(world.fault_total(), 0u);
  world.fault(2, FaultKind::net_loss, 0);
  world.fault(2, FaultKind::net_loss, 1);
  world.fault(0, FaultKind::process_crash, 0);
  EXPECT_EQ(world.faults()[static_cast<size_t>(FaultKind::net_loss)], 2u);
  EXPECT_EQ(world.faults()[static_cast<size_t>(FaultKind::process_crash)], 1u);
  EXPECT_EQ(world.fault_total(), 3u);
  EXPECT_EQ(trace.records(), 3u);
}

TEST(World, StepRunsDueEventsAndTracesEachOne) {
  Trace trace;
  World world(2, 3, trace);
  int ran = 0;
  world.loop().schedule(10, EventTag{1, static_cast<uint16_t>(EventKind::timer)}, [&] { ran++; });
  world.loop().schedule(20, EventTag{}, [&] { ran++; });
  EXPECT_TRUE(world.step(15));
  EXPECT_FALSE(world.step(15));
  EXPECT_EQ(world.now_ns(), 10u);
  EXPECT_TRUE(world.step(UINT64_MAX));
  EXPECT_FALSE(world.step(UINT64_MAX));
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(trace.records(), 2u);
}

TEST(World, TheSameSeedGivesTheSameFaultStreamAndDifferentSeedsDoNot) {
  Trace trace;
  World a(5, 3, trace);
  World b(5, 3, trace);
  World c(6, 3, trace);
  const uint64_t from_a = a.random().next_u64();
  EXPECT_EQ(from_a, b.random().next_u64());
  EXPECT_NE(from_a, c.random().next_u64());
}

TEST(World, FaultKindsAllHaveNames) {
  for (size_t kind = 0; kind < fault_kind_count; kind++) {
    EXPECT_NE(fault_kind_name(static_cast<FaultKind>(kind)), "unknown") << kind;
  }
}

TEST(StorageFaultBudget, ADomainWithManyFaultySectorsStaysFaulty) {
  StorageFaultBudget budget(3, [](uint64_t) { return uint64_t{0}; });
  budget.mark(0, 0, 65536);
  EXPECT_FALSE(budget.allows(1, 70000, 1));
  budget.heal(0, 0, 65535);
  EXPECT_FALSE(budget.allows(1, 70000, 1));
  budget.heal(0, 65535, 1);
  EXPECT_TRUE(budget.allows(1, 70000, 1));
}

TEST(World, CountsTheEventsItRunsByKind) {
  Trace trace;
  World world(3, 3, trace);
  const auto tag = [](EventKind kind) { return EventTag{0, static_cast<uint16_t>(kind)}; };
  int ran = 0;
  world.loop().schedule(10, tag(EventKind::timer), [&ran] { ran++; });
  world.loop().schedule(20, tag(EventKind::deliver), [&ran] { ran++; });
  world.loop().schedule(30, tag(EventKind::deliver), [&ran] { ran++; });
  const EventLoop::EventId cancelled =
      world.loop().schedule(40, tag(EventKind::disk_sync), [&ran] { ran++; });
  world.loop().schedule(50, EventTag{0, 999}, [&ran] { ran++; });  // no EventKind
  ASSERT_TRUE(world.loop().cancel(cancelled));
  while (world.step(UINT64_MAX)) {
  }
  EXPECT_EQ(ran, 4);
  EXPECT_EQ(world.events_run(EventKind::timer), 1u);
  EXPECT_EQ(world.events_run(EventKind::deliver), 2u);
  EXPECT_EQ(world.events_run(EventKind::disk_sync), 0u);  // a cancelled event never ran
  EXPECT_EQ(world.events_run(EventKind::disk_write), 0u);
  EXPECT_EQ(world.loop().events_run(), 4u);  // the untagged one counts in the total only
}

}  // namespace
}  // namespace keel::sim
