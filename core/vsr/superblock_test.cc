// The superblock's read and write rules against the simulated disk: torn, lost, misdirected,
// corrupt and unreadable copies never make a replica forget a durable update or believe a state
// that was never written.

#include "core/vsr/superblock.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <memory>
#include <optional>

#include "sim/disk.h"
#include "sim/network.h"
#include "sim/node.h"

namespace keel::vsr {
namespace {

constexpr uint64_t sector = io::BlockStorage::sector_size_bytes;
constexpr uint64_t cluster = 7;
constexpr uint32_t replica = 1;
using Status = Superblock::CopyStatus;

proto::SuperblockState make_state(uint64_t view, uint64_t commit) {
  proto::SuperblockState state;
  state.set_cluster_id(cluster);
  state.set_replica(replica);
  state.set_replica_count(3);
  state.set_view(view);
  state.set_log_view(view);
  state.set_commit_number(commit);
  return state;
}

// One replica node with a 16-sector disk; the superblock zone starts at sector 0.
struct Rig {
  explicit Rig(uint64_t seed) : world(seed, 3, trace), network(world, 1, net) {
    node = std::make_unique<sim::SimNode>(world, network, 0, cluster, sim::ClockSettings{},
                                          16 * sector, &profile);
    network.attach({node.get()});
  }
  sim::SimDisk& disk() { return *node->disk(); }
  void run() {
    while (world.step(UINT64_MAX)) {
    }
  }
  void format(const proto::SuperblockState& state) { disk().format(0, Superblock::format(state)); }
  // Opens a fresh Superblock (as a restarted replica would) and returns what it found.
  Superblock::OpenResult open(std::optional<proto::SuperblockState>* state = nullptr) {
    Superblock superblock(disk(), 0, cluster, replica);
    std::optional<Superblock::OpenResult> result;
    superblock.open([&](const Superblock::OpenResult& r) { result = r; });
    run();
    EXPECT_TRUE(result.has_value());
    if (state != nullptr && result && result->found) *state = superblock.state();
    return result.value_or(Superblock::OpenResult{});
  }
  // Opens, then writes next; returns whether the write reported durable.
  bool update(const proto::SuperblockState& next) {
    Superblock superblock(disk(), 0, cluster, replica);
    superblock.open([](const Superblock::OpenResult&) {});
    run();
    std::optional<bool> durable;
    superblock.write(next, [&](bool ok) { durable = ok; });
    run();
    return durable.value_or(false);
  }
  void crash_and_restart() {
    node->crash();
    node->restart();
  }
  std::vector<uint8_t> sector_bytes(uint32_t slot) {
    const auto bytes = disk().current_bytes();
    return std::vector<uint8_t>(bytes.begin() + slot * sector, bytes.begin() + (slot + 1) * sector);
  }

  sim::Trace trace;
  sim::DiskProfile profile;
  sim::NetworkProfile net;
  sim::World world;
  sim::SimNetwork network;
  std::unique_ptr<sim::SimNode> node;
};

TEST(Superblock, AFormattedZoneOpensAtSequenceOne) {
  Rig rig(1);
  rig.format(make_state(0, 0));
  std::optional<proto::SuperblockState> state;
  const Superblock::OpenResult result = rig.open(&state);
  ASSERT_TRUE(result.found);
  EXPECT_EQ(result.sequence, 1u);
  for (Status status : result.status) EXPECT_EQ(status, Status::current);
  EXPECT_EQ(state->cluster_id(), cluster);
}

TEST(Superblock, AnEmptyZoneIsNotFound) {
  Rig rig(2);
  const Superblock::OpenResult result = rig.open();
  EXPECT_FALSE(result.found);
  for (Status status : result.status) EXPECT_EQ(status, Status::empty);
}

TEST(Superblock, ADurableUpdateSurvivesACrash) {
  Rig rig(3);
  rig.format(make_state(0, 0));
  ASSERT_TRUE(rig.update(make_state(4, 17)));
  rig.crash_and_restart();
  std::optional<proto::SuperblockState> state;
  const Superblock::OpenResult result = rig.open(&state);
  ASSERT_TRUE(result.found);
  EXPECT_EQ(result.sequence, 2u);
  EXPECT_EQ(state->view(), 4u);
  EXPECT_EQ(state->commit_number(), 17u);
}

// A state that fills most of a copy's sector: a torn copy (a prefix of 512-byte blocks) then fails
// its checksum (a small state lands whole with the first block, and hides the tearing).
proto::SuperblockState make_large_state(uint64_t view, uint64_t commit) {
  proto::SuperblockState state = make_state(view, commit);
  for (uint64_t i = 0; i < 100; i++) {
    proto::CheckpointId& checkpoint = *state.add_checkpoints();
    checkpoint.set_op(commit + i);
    checkpoint.set_snapshot_checksum(0x9e3779b97f4a7c15 * (i + 1));
    checkpoint.set_header_checksum(0xc2b2ae3d27d4eb4f * (i + 1));
    checkpoint.set_snapshot_size_bytes(1 << 20);
    checkpoint.set_timestamp_ns(uint64_t{1} << 62);
  }
  return state;
}

// The disk keeps, loses or tears each unsynced sector at random, so the seeds cover every mix of
// the copies in flight. With all four copies in flight at once (one sync after all four writes),
// about one crash in 81 tore them all and lost the superblock.
TEST(Superblock, ACrashDuringAnUpdateLeavesTheOldOrTheNewStateNeverGarbage) {
  int saw_old = 0, saw_new = 0;
  for (uint64_t seed = 0; seed < 4000; seed++) {
    Rig rig(seed);
    rig.format(make_large_state(1, 1));
    Superblock superblock(rig.disk(), 0, cluster, replica);
    superblock.open([](const Superblock::OpenResult&) {});
    rig.run();
    superblock.write(make_large_state(2, 9), [](bool) {});
    // Crash after a number of the write's steps (4 writes and 2 syncs), or with none left.
    const uint64_t steps = seed % 8;
    for (uint64_t i = 0; i < steps; i++) rig.world.step(UINT64_MAX);
    rig.crash_and_restart();
    std::optional<proto::SuperblockState> state;
    const Superblock::OpenResult result = rig.open(&state);
    ASSERT_TRUE(result.found) << "seed " << seed;
    if (result.sequence == 1) {
      EXPECT_EQ(state->view(), 1u);
      saw_old++;
    } else {
      ASSERT_EQ(result.sequence, 2u) << "seed " << seed;
      EXPECT_EQ(state->view(), 2u);
      EXPECT_EQ(state->commit_number(), 9u);
      saw_new++;
    }
  }
  EXPECT_GT(saw_old, 0);  // Both outcomes happen: the crash points are real.
  EXPECT_GT(saw_new, 0);
}

TEST(Superblock, AMisdirectedCopyIsNotTrustedAndItsStaleTargetLoses) {
  Rig rig(4);
  rig.format(make_state(1, 1));
  const std::vector<uint8_t> old_copy = rig.sector_bytes(1);
  ASSERT_TRUE(rig.update(make_state(3, 5)));
  // Copy 0's write also landed in slot 2, and copy 1's write went elsewhere: slot 1 is stale.
  rig.disk().format(2 * sector, rig.sector_bytes(0));
  rig.disk().format(1 * sector, old_copy);
  std::optional<proto::SuperblockState> state;
  const Superblock::OpenResult result = rig.open(&state);
  ASSERT_TRUE(result.found);
  EXPECT_EQ(result.sequence, 2u);
  EXPECT_EQ(state->view(), 3u);
  EXPECT_EQ(result.status[0], Status::current);
  EXPECT_EQ(result.status[1], Status::stale);
  EXPECT_EQ(result.status[2], Status::misdirected);
  EXPECT_EQ(result.status[3], Status::current);
}

TEST(Superblock, ANewestCopyThatWasMisdirectedEverywhereButOnceStillWins) {
  Rig rig(5);
  rig.format(make_state(1, 1));
  const std::vector<uint8_t> old_copy = rig.sector_bytes(0);
  ASSERT_TRUE(rig.update(make_state(6, 6)));
  for (uint32_t slot : {0u, 1u, 3u}) rig.disk().format(slot * sector, old_copy);
  // Slot 0's old copy now also sits in 1 and 3: misdirected there; slot 2 has the newest.
  std::optional<proto::SuperblockState> state;
  const Superblock::OpenResult result = rig.open(&state);
  ASSERT_TRUE(result.found);
  EXPECT_EQ(state->view(), 6u);
  EXPECT_EQ(result.status[0], Status::stale);
  EXPECT_EQ(result.status[1], Status::misdirected);
  EXPECT_EQ(result.status[2], Status::current);
  EXPECT_EQ(result.status[3], Status::misdirected);
}

TEST(Superblock, ThreeDamagedCopiesAreSurvivedAndFourAreNot) {
  Rig rig(6);
  rig.format(make_state(0, 0));
  ASSERT_TRUE(rig.update(make_state(2, 3)));
  sim::StorageFaultBudget& budget = rig.world.storage_budget();
  ASSERT_GT(budget.faults_max(), 0u);
  ASSERT_TRUE(rig.disk().damage_sector(0));
  ASSERT_TRUE(rig.disk().fail_sector(1));
  ASSERT_TRUE(rig.disk().damage_sector(3));
  std::optional<proto::SuperblockState> state;
  Superblock::OpenResult result = rig.open(&state);
  ASSERT_TRUE(result.found);
  EXPECT_EQ(state->view(), 2u);
  EXPECT_EQ(result.status[0], Status::corrupt);
  EXPECT_EQ(result.status[1], Status::unreadable);
  EXPECT_EQ(result.status[2], Status::current);
  EXPECT_EQ(result.status[3], Status::corrupt);
  ASSERT_TRUE(rig.disk().damage_sector(2));
  result = rig.open();
  EXPECT_FALSE(result.found);  // Lost: the replica must recover from its peers.
}

TEST(Superblock, AnotherReplicasSuperblockIsForeign) {
  Rig rig(7);
  proto::SuperblockState other = make_state(0, 0);
  other.set_replica(replica + 1);
  rig.format(other);
  const Superblock::OpenResult result = rig.open();
  EXPECT_FALSE(result.found);
  for (Status status : result.status) EXPECT_EQ(status, Status::foreign);
}

TEST(Superblock, TheNextUpdateRewritesEveryCopy) {
  Rig rig(8);
  rig.format(make_state(0, 0));
  ASSERT_TRUE(rig.disk().damage_sector(1));
  ASSERT_TRUE(rig.update(make_state(1, 1)));
  const Superblock::OpenResult result = rig.open();
  ASSERT_TRUE(result.found);
  EXPECT_EQ(result.sequence, 2u);
  for (Status status : result.status) EXPECT_EQ(status, Status::current);
}

// Any sequence of updates, crashes (at any point) and damage to at most three copies: the state
// found is always one that was written, never older than the last update reported durable.
RC_GTEST_PROP(SuperblockProperty, NeverForgetsADurableUpdate, ()) {
  Rig rig(*rc::gen::arbitrary<uint64_t>());
  rig.profile.latency_tail_mean_ns = 50'000;
  rig.format(make_state(0, 0));
  uint64_t durable_view = 0;
  uint64_t attempted_view = 0;
  const int rounds = *rc::gen::inRange(1, 12);
  for (int round = 0; round < rounds; round++) {
    Superblock superblock(rig.disk(), 0, cluster, replica);
    std::optional<Superblock::OpenResult> opened;
    superblock.open([&](const Superblock::OpenResult& r) { opened = r; });
    rig.run();
    RC_ASSERT(opened && opened->found);
    const uint64_t view = superblock.state().view();
    RC_ASSERT(view >= durable_view);
    RC_ASSERT(view <= attempted_view);
    durable_view = view;  // What was found is now what a replica acts on.
    attempted_view = view + 1;
    bool reported = false;
    superblock.write(make_state(attempted_view, round), [&](bool ok) { reported = ok; });
    const int steps = *rc::gen::inRange(0, 8);
    for (int i = 0; i < steps; i++) rig.world.step(UINT64_MAX);
    if (reported) durable_view = attempted_view;
    if (*rc::gen::arbitrary<bool>()) {
      const uint32_t slot = *rc::gen::inRange(0, 4);
      // Damage one copy, leaving at least one intact copy of the newest sequence when the
      // update completed (the superblock tolerates three damaged copies, not four).
      if (reported && slot != 3) rig.disk().damage_sector(slot);
    }
    rig.crash_and_restart();
  }
}

}  // namespace
}  // namespace keel::vsr
