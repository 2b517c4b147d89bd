#include "sim/disk.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "io/random.h"
#include "sim/network.h"
#include "sim/node.h"
#include "sim/world.h"

namespace keel::sim {
namespace {

constexpr uint64_t sector = io::BlockStorage::sector_size_bytes;
constexpr uint64_t cluster = 1;

// A world with nodes that each own a disk of sectors_per_disk sectors, all under one profile the
// test may change at any time (the disks keep a reference to it).
struct Rig {
  explicit Rig(uint64_t seed, uint32_t replicas = 3, uint64_t sectors_per_disk = 16,
               uint32_t node_count = 1)
      : world(seed, replicas, trace), network(world, node_count, net) {
    std::vector<SimNode*> attached;
    for (io::NodeId id = 0; id < node_count; id++) {
      nodes.push_back(std::make_unique<SimNode>(world, network, id, cluster, ClockSettings{},
                                                sectors_per_disk * sector, &profile));
      attached.push_back(nodes.back().get());
    }
    network.attach(attached);
  }

  SimNode& node(io::NodeId id = 0) { return *nodes[id]; }
  SimDisk& disk(io::NodeId id = 0) { return *nodes[id]->disk(); }
  uint64_t faults(FaultKind kind) const { return world.faults()[static_cast<size_t>(kind)]; }
  void run() {
    while (world.step(UINT64_MAX)) {
    }
  }

  io::IoStatus write(uint64_t offset, const std::vector<uint8_t>& data, io::NodeId id = 0) {
    std::optional<io::IoStatus> result;
    disk(id).write(offset, data, [&](io::IoStatus status) { result = status; });
    run();
    EXPECT_TRUE(result.has_value());
    return result.value_or(io::IoStatus::error);
  }
  std::vector<uint8_t> read(uint64_t offset, uint64_t size, io::IoStatus* status = nullptr,
                            io::NodeId id = 0) {
    std::vector<uint8_t> buffer(size, 0xee);
    std::optional<io::IoStatus> result;
    disk(id).read(offset, buffer, [&](io::IoStatus s) { result = s; });
    run();
    EXPECT_TRUE(result.has_value());
    if (status != nullptr) *status = result.value_or(io::IoStatus::error);
    return buffer;
  }
  void sync(io::NodeId id = 0) {
    bool done = false;
    disk(id).sync([&](io::IoStatus status) {
      EXPECT_EQ(status, io::IoStatus::ok);
      done = true;
    });
    run();
    EXPECT_TRUE(done);
  }

  Trace trace;
  DiskProfile profile;
  NetworkProfile net;
  World world;
  SimNetwork network;
  std::vector<std::unique_ptr<SimNode>> nodes;
};

std::vector<uint8_t> pattern(uint64_t seed, uint64_t size) {
  io::Random random(seed);
  std::vector<uint8_t> data(size);
  for (uint8_t& byte : data) byte = static_cast<uint8_t>(random.next_u64());
  return data;
}

std::vector<uint8_t> slice(std::span<const uint8_t> bytes, uint64_t offset, uint64_t size) {
  return std::vector<uint8_t>(bytes.begin() + offset, bytes.begin() + offset + size);
}

int differing_bits(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int bits = 0;
  for (size_t i = 0; i < a.size(); i++) bits += std::popcount(static_cast<uint8_t>(a[i] ^ b[i]));
  return bits;
}

uint64_t storage_faults(const Rig& rig) {
  return rig.faults(FaultKind::disk_read_corrupt) + rig.faults(FaultKind::disk_write_corrupt) +
         rig.faults(FaultKind::disk_misdirect) + rig.faults(FaultKind::disk_latent_error);
}

TEST(SimDisk, StartsZeroedAndFullySynced) {
  Rig rig(1);
  EXPECT_EQ(rig.disk().size_bytes(), 16 * sector);
  EXPECT_EQ(rig.disk().unsynced_sectors(), 0u);
  EXPECT_EQ(rig.read(0, 16 * sector), std::vector<uint8_t>(16 * sector, 0));
}

TEST(SimDisk, CompletedUnsyncedWriteIsReadableButNotDurable) {
  Rig rig(2);
  const std::vector<uint8_t> data = pattern(2, 2 * sector);
  EXPECT_EQ(rig.write(3 * sector, data), io::IoStatus::ok);
  EXPECT_EQ(rig.read(3 * sector, 2 * sector), data);
  EXPECT_EQ(slice(rig.disk().current_bytes(), 3 * sector, 2 * sector), data);
  EXPECT_EQ(rig.disk().unsynced_sectors(), 2u);
  EXPECT_EQ(slice(rig.disk().durable_bytes(), 0, 16 * sector),
            std::vector<uint8_t>(16 * sector, 0));
}

TEST(SimDisk, WriteIsInvisibleUntilItCompletes) {
  Rig rig(3);
  bool completed = false;
  const std::vector<uint8_t> data = pattern(3, sector);
  rig.disk().write(0, data, [&](io::IoStatus) { completed = true; });
  EXPECT_FALSE(completed);  // Never inside write() itself.
  EXPECT_EQ(slice(rig.disk().current_bytes(), 0, sector), std::vector<uint8_t>(sector, 0));
  rig.run();
  EXPECT_TRUE(completed);
  EXPECT_EQ(slice(rig.disk().current_bytes(), 0, sector), data);
}

TEST(SimDisk, WriteCopiesTheBufferAtSubmission) {
  Rig rig(4);
  std::vector<uint8_t> buffer = pattern(4, sector);
  const std::vector<uint8_t> submitted = buffer;
  rig.disk().write(0, buffer, [](io::IoStatus) {});
  std::fill(buffer.begin(), buffer.end(), 0x55);
  rig.run();
  EXPECT_EQ(slice(rig.disk().current_bytes(), 0, sector), submitted);
}

TEST(SimDisk, SyncMakesCompletedWritesDurable) {
  Rig rig(5);
  const std::vector<uint8_t> data = pattern(5, 3 * sector);
  rig.write(4 * sector, data);
  rig.sync();
  EXPECT_EQ(slice(rig.disk().durable_bytes(), 4 * sector, 3 * sector), data);
  EXPECT_EQ(rig.disk().unsynced_sectors(), 0u);
}

TEST(SimDisk, SyncIssuedBeforeAWriteCompletesDoesNotCoverIt) {
  Rig rig(6);
  const std::vector<uint8_t> data = pattern(6, sector);
  bool wrote = false;
  bool synced = false;
  rig.disk().write(2 * sector, data, [&](io::IoStatus) { wrote = true; });
  rig.disk().sync([&](io::IoStatus) { synced = true; });
  rig.run();
  ASSERT_TRUE(wrote);
  ASSERT_TRUE(synced);
  EXPECT_EQ(slice(rig.disk().current_bytes(), 2 * sector, sector), data);
  EXPECT_EQ(slice(rig.disk().durable_bytes(), 2 * sector, sector), std::vector<uint8_t>(sector, 0));
  EXPECT_EQ(rig.disk().unsynced_sectors(), 1u);
}

TEST(SimDisk, CrashKeepsSyncedDataExactly) {
  for (uint64_t seed = 0; seed < 20; seed++) {
    Rig rig(seed);
    const std::vector<uint8_t> synced = pattern(seed, 8 * sector);
    rig.write(0, synced);
    rig.sync();
    rig.write(8 * sector, pattern(seed + 100, 8 * sector));  // Unsynced, elsewhere.
    rig.node().crash();
    rig.node().restart();
    EXPECT_EQ(slice(rig.disk().durable_bytes(), 0, 8 * sector), synced) << "seed " << seed;
    EXPECT_EQ(rig.read(0, 8 * sector), synced) << "seed " << seed;
  }
}

TEST(SimDisk, AfterACrashReadsSeeExactlyTheDurableContents) {
  Rig rig(7);
  rig.write(0, pattern(7, 16 * sector));
  rig.node().crash();
  rig.node().restart();
  EXPECT_EQ(rig.disk().unsynced_sectors(), 0u);
  const std::vector<uint8_t> durable = slice(rig.disk().durable_bytes(), 0, 16 * sector);
  EXPECT_EQ(slice(rig.disk().current_bytes(), 0, 16 * sector), durable);
  EXPECT_EQ(rig.read(0, 16 * sector), durable);
}

TEST(SimDisk, CrashDropsInFlightIo) {
  Rig rig(8);
  bool write_completed = false;
  bool sync_completed = false;
  rig.disk().write(0, pattern(8, sector), [&](io::IoStatus) { write_completed = true; });
  rig.disk().sync([&](io::IoStatus) { sync_completed = true; });
  rig.node().crash();
  rig.node().restart();
  rig.run();
  EXPECT_FALSE(write_completed);
  EXPECT_FALSE(sync_completed);
  EXPECT_EQ(slice(rig.disk().current_bytes(), 0, sector), std::vector<uint8_t>(sector, 0));
}

// Over many seeds and crash points: every sector whose current contents were durable before a
// crash is byte-identical after it, and every other sector ends up old, new, or torn (a strict
// prefix of its 512-byte blocks new), each outcome counted as the fault it is.
TEST(SimDisk, TornAndLostWritesOnlyEverHitUnsyncedSectors) {
  uint64_t torn_seen = 0;
  uint64_t lost_seen = 0;
  uint64_t kept_seen = 0;
  for (uint64_t seed = 0; seed < 200; seed++) {
    Rig rig(seed, 3, 12);
    io::Random random(seed * 7919 + 1);
    const uint64_t operations = 1 + random.uniform(30);
    for (uint64_t op = 0; op < operations; op++) {
      const uint64_t choice = random.uniform(10);
      if (choice < 6) {
        const uint64_t sectors = 1 + random.uniform(3);
        const uint64_t first = random.uniform(12 - sectors + 1);
        rig.disk().write(first * sector, pattern(random.next_u64(), sectors * sector),
                         [](io::IoStatus) {});
      } else if (choice < 8) {
        rig.disk().sync([](io::IoStatus) {});
      } else {
        const uint64_t steps = random.uniform(6);
        for (uint64_t i = 0; i < steps; i++) rig.world.step(UINT64_MAX);
      }
    }
    const uint64_t steps = random.uniform(20);
    for (uint64_t i = 0; i < steps; i++) rig.world.step(UINT64_MAX);

    const std::vector<uint8_t> before_durable = slice(rig.disk().durable_bytes(), 0, 12 * sector);
    const std::vector<uint8_t> before_current = slice(rig.disk().current_bytes(), 0, 12 * sector);
    const uint64_t lost_before = rig.faults(FaultKind::disk_lost_write);
    const uint64_t torn_before = rig.faults(FaultKind::disk_torn_write);
    rig.node().crash();
    const std::vector<uint8_t> after = slice(rig.disk().durable_bytes(), 0, 12 * sector);
    EXPECT_EQ(slice(rig.disk().current_bytes(), 0, 12 * sector), after);

    uint64_t lost = 0;
    uint64_t torn = 0;
    for (uint64_t s = 0; s < 12; s++) {
      const uint8_t* old_bytes = before_durable.data() + s * sector;
      const uint8_t* new_bytes = before_current.data() + s * sector;
      const uint8_t* got = after.data() + s * sector;
      if (std::memcmp(old_bytes, new_bytes, sector) == 0) {
        EXPECT_EQ(std::memcmp(got, old_bytes, sector), 0) << "seed " << seed << " sector " << s;
        continue;
      }
      if (std::memcmp(got, new_bytes, sector) == 0) {
        kept_seen++;
        continue;
      }
      if (std::memcmp(got, old_bytes, sector) == 0) {
        lost++;
        continue;
      }
      // Torn: some 512-byte blocks from the new write, then the rest old.
      bool is_torn = false;
      for (uint64_t blocks = 1; blocks < sector / 512 && !is_torn; blocks++) {
        is_torn =
            std::memcmp(got, new_bytes, blocks * 512) == 0 &&
            std::memcmp(got + blocks * 512, old_bytes + blocks * 512, sector - blocks * 512) == 0;
      }
      EXPECT_TRUE(is_torn) << "seed " << seed << " sector " << s << " is neither old, new nor torn";
      torn++;
    }
    EXPECT_EQ(rig.faults(FaultKind::disk_lost_write) - lost_before, lost) << "seed " << seed;
    EXPECT_EQ(rig.faults(FaultKind::disk_torn_write) - torn_before, torn) << "seed " << seed;
    torn_seen += torn;
    lost_seen += lost;
  }
  // The sweep exercised every outcome.
  EXPECT_GT(torn_seen, 10u);
  EXPECT_GT(lost_seen, 10u);
  EXPECT_GT(kept_seen, 10u);
}

// With recent_block_fraction 1, a read fault lands on the logical block of one of the latest
// writes, every sector of it, even where the block's sectors are far apart.
TEST(SimDisk, RecentBlockFaultsHitAWholeLogicalBlockOfALatestWrite) {
  Rig rig(21);
  // Sectors 2 and 12 form one block (a WAL slot's ring header and its prepare, say).
  rig.world.storage_budget().set_domain_of([](uint64_t s) { return s == 12 ? uint64_t{2} : s; });
  const std::vector<uint8_t> data = pattern(3, sector);
  rig.write(12 * sector, data);
  rig.write(2 * sector, data);
  rig.sync();
  rig.profile.read_corrupt_probability = 1;
  rig.profile.recent_block_fraction = 1;
  io::IoStatus status = io::IoStatus::error;
  rig.read(7 * sector, sector, &status);  // a read elsewhere
  EXPECT_EQ(status, io::IoStatus::ok);
  EXPECT_EQ(rig.faults(FaultKind::disk_read_corrupt), 1u);
  EXPECT_FALSE(rig.world.storage_budget().faulty(0, 7));
  EXPECT_TRUE(rig.world.storage_budget().faulty(0, 2));
  EXPECT_TRUE(rig.world.storage_budget().faulty(0, 12));
  rig.profile.read_corrupt_probability = 0;
  EXPECT_EQ(differing_bits(rig.read(2 * sector, sector), data), 1);
  EXPECT_EQ(differing_bits(rig.read(12 * sector, sector), data), 1);
}

// A medium error over the newest data: every block among the 8 latest writes fails its reads,
// and older data reads back intact.
TEST(SimDisk, FailingTheRecentBlocksFailsEveryLatestWriteAndNothingOlder) {
  Rig rig(22);
  // Sectors 2 and 12 form one block (a WAL slot's ring header and its prepare, say).
  rig.world.storage_budget().set_domain_of([](uint64_t s) { return s == 12 ? uint64_t{2} : s; });
  const std::vector<uint8_t> data = pattern(4, sector);
  rig.write(15 * sector, data);  // the oldest write, pushed out of the latest 8 below
  for (uint64_t s : {12, 3, 4, 5, 6, 7, 8, 9}) rig.write(s * sector, data);
  rig.sync();
  EXPECT_EQ(rig.disk().fail_recent_blocks(), 8u);
  for (uint64_t s : {2, 12, 3, 4, 5, 6, 7, 8, 9}) {
    io::IoStatus status = io::IoStatus::ok;
    rig.read(s * sector, sector, &status);
    EXPECT_EQ(status, io::IoStatus::error) << "sector " << s;
    EXPECT_TRUE(rig.world.storage_budget().faulty(0, s)) << "sector " << s;
  }
  io::IoStatus status = io::IoStatus::error;
  EXPECT_EQ(rig.read(15 * sector, sector, &status), data);
  EXPECT_EQ(status, io::IoStatus::ok);
  EXPECT_FALSE(rig.world.storage_budget().faulty(0, 15));
  // Failed already: a second strike finds nothing left to fail.
  EXPECT_EQ(rig.disk().fail_recent_blocks(), 0u);
}

TEST(SimDisk, ReadCorruptionStaysOnRetryUntilRewritten) {
  Rig rig(9);
  const std::vector<uint8_t> data = pattern(9, sector);
  rig.write(5 * sector, data);
  rig.profile.read_corrupt_probability = 1;
  io::IoStatus status = io::IoStatus::error;
  const std::vector<uint8_t> first = rig.read(5 * sector, sector, &status);
  EXPECT_EQ(status, io::IoStatus::ok);  // Damaged data reads back silently.
  EXPECT_EQ(differing_bits(first, data), 1);
  const std::vector<uint8_t> second = rig.read(5 * sector, sector);
  EXPECT_EQ(second, first);  // The same damage, not a fresh one.
  EXPECT_EQ(rig.faults(FaultKind::disk_read_corrupt), 1u);
  EXPECT_TRUE(rig.world.storage_budget().faulty(0, 5));
  // The medium itself is intact: only reads see the damage.
  EXPECT_EQ(slice(rig.disk().current_bytes(), 5 * sector, sector), data);

  rig.profile.read_corrupt_probability = 0;
  const std::vector<uint8_t> rewritten = pattern(10, sector);
  rig.write(5 * sector, rewritten);
  EXPECT_EQ(rig.read(5 * sector, sector), rewritten);
  // Until the rewrite is durable a crash brings the damaged sector back: still faulty.
  EXPECT_TRUE(rig.world.storage_budget().faulty(0, 5));
  rig.sync();
  EXPECT_FALSE(rig.world.storage_budget().faulty(0, 5));
  EXPECT_FALSE(rig.world.storage_budget().node_faulty(0));
}

TEST(SimDisk, ACrashThatLosesTheRewriteBringsTheDamageBack) {
  Rig rig(29);
  const std::vector<uint8_t> data = pattern(29, sector);
  rig.write(5 * sector, data);
  rig.sync();
  ASSERT_TRUE(rig.disk().damage_sector(5));
  const std::vector<uint8_t> damaged = rig.read(5 * sector, sector);
  EXPECT_NE(damaged, data);
  for (uint64_t seed = 0; seed < 20; seed++) {
    rig.write(5 * sector, pattern(100 + seed, sector));  // unsynced
    rig.node().crash();
    rig.node().restart();
    const std::vector<uint8_t> after = rig.read(5 * sector, sector);
    if (after == damaged) {
      // The rewrite was lost: the damage is back, and so is the budget's mark.
      EXPECT_TRUE(rig.world.storage_budget().faulty(0, 5));
      return;
    }
    if (!rig.world.storage_budget().faulty(0, 5)) return;  // The rewrite survived whole.
  }
  ADD_FAILURE() << "no crash lost the rewrite in 20 tries";
}

TEST(SimDisk, ASyncCoversOnlyWritesThatCompletedBeforeIt) {
  Rig rig(30);
  const std::vector<uint8_t> first = pattern(1, sector), second = pattern(2, sector);
  rig.write(0, first);
  bool synced = false;
  rig.disk().sync([&](io::IoStatus) { synced = true; });
  rig.disk().write(0, second, [](io::IoStatus) {});  // issued after the sync
  rig.run();
  ASSERT_TRUE(synced);
  EXPECT_EQ(slice(rig.disk().durable_bytes(), 0, sector), first);
  EXPECT_EQ(slice(rig.disk().current_bytes(), 0, sector), second);
  EXPECT_EQ(rig.disk().unsynced_sectors(), 1u);
}

// A sync makes durable what was current when it was issued, even if a rewrite lands before it
// completes (the disk then holds on to the older content for it); a later sync covers the
// rewrite.
TEST(SimDisk, ARewriteLandingBeforeAPendingSyncCompletesIsNotWhatItMakesDurable) {
  int rewrite_first = 0;
  for (uint64_t seed = 0; seed < 50; seed++) {
    Rig rig(seed);
    const std::vector<uint8_t> first = pattern(1, sector), second = pattern(2, sector);
    rig.write(0, first);
    bool synced = false;
    bool rewritten_before_sync = false;
    bool rewrite_synced = false;  // syncs may complete out of order
    std::vector<uint8_t> durable_at_sync;
    std::vector<uint8_t> durable_expected;
    rig.disk().sync([&](io::IoStatus) {
      synced = true;
      durable_at_sync = slice(rig.disk().durable_bytes(), 0, sector);
      durable_expected = rewrite_synced ? second : first;
    });
    rig.disk().write(0, second, [&](io::IoStatus) {
      rewritten_before_sync = !synced;
      rig.disk().sync([&](io::IoStatus) { rewrite_synced = true; });
    });
    rig.run();
    EXPECT_EQ(durable_at_sync, durable_expected) << "seed " << seed;
    if (rewritten_before_sync && durable_expected == first) rewrite_first++;
    EXPECT_TRUE(rewrite_synced);
    EXPECT_EQ(rig.disk().unsynced_sectors(), 0u) << "seed " << seed;
    EXPECT_EQ(slice(rig.disk().durable_bytes(), 0, sector), second) << "seed " << seed;
  }
  EXPECT_GT(rewrite_first, 0);
}

TEST(SimDisk, SyncsCompletingOutOfOrderNeverMoveDurableDataBack) {
  for (uint64_t seed = 0; seed < 50; seed++) {
    Rig rig(seed);
    rig.profile.latency_tail_mean_ns = 1'000'000;  // syncs overtake each other
    const std::vector<uint8_t> first = pattern(1, sector), second = pattern(2, sector);
    rig.write(0, first);
    rig.disk().sync([](io::IoStatus) {});
    rig.write(0, second);
    rig.disk().sync([](io::IoStatus) {});
    rig.run();
    EXPECT_EQ(slice(rig.disk().durable_bytes(), 0, sector), second) << "seed " << seed;
    EXPECT_EQ(rig.disk().unsynced_sectors(), 0u) << "seed " << seed;
  }
}

TEST(SimDisk, DamagedSectorOnlyAffectsItsOwnBytesInALargerRead) {
  Rig rig(10);
  const std::vector<uint8_t> data = pattern(10, 4 * sector);
  rig.write(0, data);
  ASSERT_TRUE(rig.disk().damage_sector(2));
  EXPECT_FALSE(rig.disk().damage_sector(2));  // Already damaged.
  const std::vector<uint8_t> got = rig.read(0, 4 * sector);
  EXPECT_EQ(differing_bits(got, data), 1);
  EXPECT_EQ(slice(got, 0, 2 * sector), slice(data, 0, 2 * sector));
  EXPECT_EQ(slice(got, 3 * sector, sector), slice(data, 3 * sector, sector));
  EXPECT_EQ(rig.read(0, 4 * sector), got);
}

// A prepare fills its slot's last sector only in part; damage in the zero tail would reach no
// reader, so flips, on read and on write, land in the data.
TEST(SimDisk, BitFlipsLandInTheDataOfAPartlyFilledSector) {
  constexpr uint64_t data_size_bytes = 100;
  for (uint64_t seed = 1; seed <= 50; seed++) {
    Rig rig(seed);
    std::vector<uint8_t> data = pattern(seed, sector);
    std::fill(data.begin() + data_size_bytes, data.end(), 0);
    data[data_size_bytes - 1] = 0xff;  // the last data byte is non-zero
    rig.write(0, data);
    ASSERT_TRUE(rig.disk().damage_sector(0));
    const std::vector<uint8_t> read = rig.read(0, sector);
    EXPECT_EQ(differing_bits(read, data), 1) << "seed " << seed;
    EXPECT_EQ(slice(read, data_size_bytes, sector - data_size_bytes),
              slice(data, data_size_bytes, sector - data_size_bytes))
        << "seed " << seed;

    rig.profile.write_corrupt_probability = 1;
    rig.write(sector, data);
    const std::vector<uint8_t> landed = slice(rig.disk().current_bytes(), sector, sector);
    EXPECT_EQ(differing_bits(landed, data), 1) << "seed " << seed;
    EXPECT_EQ(slice(landed, data_size_bytes, sector - data_size_bytes),
              slice(data, data_size_bytes, sector - data_size_bytes))
        << "seed " << seed;
  }
}

TEST(SimDisk, LatentSectorErrorFailsReadsUntilRewritten) {
  Rig rig(11);
  const std::vector<uint8_t> data = pattern(11, 3 * sector);
  rig.write(2 * sector, data);
  ASSERT_TRUE(rig.disk().fail_sector(3));
  EXPECT_FALSE(rig.disk().fail_sector(3));
  io::IoStatus status = io::IoStatus::ok;
  rig.read(3 * sector, sector, &status);
  EXPECT_EQ(status, io::IoStatus::error);
  rig.read(2 * sector, 3 * sector, &status);  // Any read covering the sector fails.
  EXPECT_EQ(status, io::IoStatus::error);
  rig.read(3 * sector, sector, &status);
  EXPECT_EQ(status, io::IoStatus::error);
  EXPECT_EQ(rig.read(2 * sector, sector, &status), slice(data, 0, sector));
  EXPECT_EQ(status, io::IoStatus::ok);
  EXPECT_TRUE(rig.world.storage_budget().faulty(0, 3));

  const std::vector<uint8_t> rewritten = pattern(12, sector);
  rig.write(3 * sector, rewritten);
  EXPECT_EQ(rig.read(3 * sector, sector, &status), rewritten);
  EXPECT_EQ(status, io::IoStatus::ok);
  EXPECT_TRUE(rig.world.storage_budget().faulty(0, 3));  // Healed only once durable.
  rig.sync();
  EXPECT_FALSE(rig.world.storage_budget().faulty(0, 3));
}

TEST(SimDisk, LatentErrorsInjectedOnReadAreCountedOnce) {
  Rig rig(12);
  rig.write(0, pattern(12, sector));
  rig.profile.latent_error_probability = 1;
  for (int i = 0; i < 3; i++) {
    io::IoStatus status = io::IoStatus::ok;
    rig.read(0, sector, &status);
    EXPECT_EQ(status, io::IoStatus::error) << "read " << i;
  }
  EXPECT_EQ(rig.faults(FaultKind::disk_latent_error), 1u);
}

TEST(SimDisk, WriteCorruptionLandsDamaged) {
  Rig rig(13);
  rig.profile.write_corrupt_probability = 1;
  const std::vector<uint8_t> data = pattern(13, 4 * sector);
  EXPECT_EQ(rig.write(4 * sector, data), io::IoStatus::ok);  // Reported as a success.
  const std::vector<uint8_t> landed = slice(rig.disk().current_bytes(), 4 * sector, 4 * sector);
  EXPECT_EQ(differing_bits(landed, data), 1);
  EXPECT_EQ(rig.faults(FaultKind::disk_write_corrupt), 1u);
  uint64_t damaged = 0;
  for (uint64_t s = 0; s < 4; s++) {
    if (slice(landed, s * sector, sector) != slice(data, s * sector, sector)) damaged = 4 + s;
  }
  EXPECT_TRUE(rig.world.storage_budget().faulty(0, damaged));
  EXPECT_EQ(rig.read(4 * sector, 4 * sector), landed);
  rig.sync();  // The damage is what became durable.
  EXPECT_EQ(slice(rig.disk().durable_bytes(), 4 * sector, 4 * sector), landed);

  rig.profile.write_corrupt_probability = 0;
  rig.write(4 * sector, data);
  EXPECT_EQ(rig.read(4 * sector, 4 * sector), data);
  rig.sync();  // Healed only once the correct rewrite is durable.
  EXPECT_FALSE(rig.world.storage_budget().node_faulty(0));
}

TEST(SimDisk, MisdirectedWriteLandsElsewhereAndLeavesTheTargetStale) {
  int misdirected = 0;
  for (uint64_t seed = 0; seed < 20; seed++) {
    Rig rig(seed);
    std::vector<std::vector<uint8_t>> old_sectors;
    for (uint64_t s = 0; s < 16; s++) {
      old_sectors.push_back(pattern(1000 + s, sector));
      rig.disk().format(s * sector, old_sectors.back());
    }
    rig.profile.misdirect_probability = 1;
    const std::vector<uint8_t> data = pattern(seed, sector);
    EXPECT_EQ(rig.write(5 * sector, data), io::IoStatus::ok);  // Misdirection reports success.
    if (rig.faults(FaultKind::disk_misdirect) == 0) {
      // The random landing spot was the target itself: an ordinary write.
      EXPECT_EQ(rig.read(5 * sector, sector), data);
      continue;
    }
    misdirected++;
    EXPECT_EQ(rig.faults(FaultKind::disk_misdirect), 1u);
    EXPECT_EQ(rig.read(5 * sector, sector), old_sectors[5]) << "seed " << seed;
    int landed = 0;
    for (uint64_t s = 0; s < 16; s++) {
      if (s == 5) continue;
      const std::vector<uint8_t> got = slice(rig.disk().current_bytes(), s * sector, sector);
      if (got == data) {
        landed++;
        EXPECT_TRUE(rig.world.storage_budget().faulty(0, s));
      } else {
        EXPECT_EQ(got, old_sectors[s]) << "seed " << seed << " sector " << s;
      }
    }
    EXPECT_EQ(landed, 1) << "seed " << seed;
    EXPECT_TRUE(rig.world.storage_budget().faulty(0, 5));

    // A correct rewrite heals the stale target.
    rig.profile.misdirect_probability = 0;
    rig.write(5 * sector, data);
    EXPECT_EQ(rig.read(5 * sector, sector), data);
    rig.sync();  // Healed only once the correct rewrite is durable.
    EXPECT_FALSE(rig.world.storage_budget().faulty(0, 5));
  }
  EXPECT_GT(misdirected, 10);
}

TEST(SimDisk, WriteCoveringTheWholeDeviceIsNeverMisdirected) {
  Rig rig(14, 3, 4);
  rig.profile.misdirect_probability = 1;
  const std::vector<uint8_t> data = pattern(14, 4 * sector);
  for (int i = 0; i < 5; i++) rig.write(0, data);
  EXPECT_EQ(rig.faults(FaultKind::disk_misdirect), 0u);
  EXPECT_EQ(rig.read(0, 4 * sector), data);
}

TEST(SimDisk, StorageFaultsAreRefusedWhenTheBudgetIsZero) {
  for (uint32_t replicas : {1u, 2u}) {
    Rig rig(15, replicas);
    ASSERT_EQ(rig.world.storage_budget().faults_max(), 0u);
    rig.profile.read_corrupt_probability = 1;
    rig.profile.write_corrupt_probability = 1;
    rig.profile.misdirect_probability = 1;
    rig.profile.latent_error_probability = 1;
    for (uint64_t i = 0; i < 20; i++) {
      const std::vector<uint8_t> data = pattern(i, 2 * sector);
      const uint64_t offset = (i % 15) * sector;
      EXPECT_EQ(rig.write(offset, data), io::IoStatus::ok);
      io::IoStatus status = io::IoStatus::error;
      EXPECT_EQ(rig.read(offset, 2 * sector, &status), data) << "replicas " << replicas;
      EXPECT_EQ(status, io::IoStatus::ok);
    }
    EXPECT_FALSE(rig.disk().damage_sector(3));
    EXPECT_FALSE(rig.disk().fail_sector(3));
    EXPECT_EQ(storage_faults(rig), 0u);
    EXPECT_FALSE(rig.world.storage_budget().node_faulty(0));
  }
}

TEST(SimDisk, TheSameSectorIsFaultyOnOneReplicaOnlyWithThreeReplicas) {
  Rig rig(16, 3, 16, 3);
  const std::vector<uint8_t> data = pattern(16, sector);
  for (io::NodeId id = 0; id < 3; id++) rig.write(7 * sector, data, id);
  ASSERT_TRUE(rig.disk(0).damage_sector(7));
  EXPECT_FALSE(rig.disk(1).damage_sector(7));
  EXPECT_FALSE(rig.disk(2).fail_sector(7));
  EXPECT_TRUE(rig.disk(1).damage_sector(8));
  // Injection on read respects the same bound.
  rig.profile.read_corrupt_probability = 1;
  EXPECT_EQ(rig.read(7 * sector, sector, nullptr, 2), data);
  EXPECT_EQ(rig.faults(FaultKind::disk_read_corrupt), 0u);
}

TEST(SimDisk, DisabledFaultsInjectNothing) {
  Rig rig(17);
  rig.disk().set_faults_enabled(false);
  rig.profile.read_corrupt_probability = 1;
  rig.profile.write_corrupt_probability = 1;
  rig.profile.misdirect_probability = 1;
  rig.profile.latent_error_probability = 1;
  rig.profile.slow_probability = 1;
  const std::vector<uint8_t> data = pattern(17, 2 * sector);
  rig.write(6 * sector, data);
  EXPECT_EQ(rig.read(6 * sector, 2 * sector), data);
  EXPECT_EQ(rig.world.fault_total(), 0u);
}

TEST(SimDisk, LatencyIsAtLeastTheMinimumAndBoundedByTheTail) {
  Rig rig(18);
  rig.profile.latency_min_ns = 50'000;
  rig.profile.latency_tail_mean_ns = 10'000;
  for (int i = 0; i < 50; i++) {
    const uint64_t start = rig.world.now_ns();
    rig.write(0, pattern(i, sector));
    const uint64_t latency = rig.world.now_ns() - start;
    EXPECT_GE(latency, 50'000u);
    EXPECT_LE(latency, 50'000u + 20 * 10'000u);
  }
  EXPECT_EQ(rig.faults(FaultKind::disk_slow), 0u);
}

TEST(SimDisk, SlowIoTakesAHundredTailMeansLongerAndIsCounted) {
  Rig rig(19);
  rig.profile.latency_min_ns = 50'000;
  rig.profile.latency_tail_mean_ns = 10'000;
  rig.profile.slow_probability = 1;
  const uint64_t start = rig.world.now_ns();
  rig.write(0, pattern(19, sector));
  EXPECT_GE(rig.world.now_ns() - start, 50'000u + 100 * 10'000u);
  EXPECT_EQ(rig.faults(FaultKind::disk_slow), 1u);
  EXPECT_EQ(storage_faults(rig), 0u);  // A slow disk is not a storage fault.
}

TEST(SimDisk, FormatWritesDurablyAtOnce) {
  Rig rig(20);
  const std::vector<uint8_t> data = pattern(20, 2 * sector);
  rig.disk().format(8 * sector, data);
  EXPECT_EQ(slice(rig.disk().durable_bytes(), 8 * sector, 2 * sector), data);
  EXPECT_EQ(rig.disk().unsynced_sectors(), 0u);
  rig.node().crash();
  rig.node().restart();
  EXPECT_EQ(rig.read(8 * sector, 2 * sector), data);
}

TEST(SimDisk, WipeZeroesDurableDataAndClearsDamage) {
  Rig rig(21);
  rig.write(0, pattern(21, 4 * sector));
  rig.sync();
  rig.write(4 * sector, pattern(22, sector));
  ASSERT_TRUE(rig.disk().fail_sector(1));
  rig.disk().wipe();
  EXPECT_EQ(rig.disk().unsynced_sectors(), 0u);
  EXPECT_EQ(slice(rig.disk().durable_bytes(), 0, 16 * sector),
            std::vector<uint8_t>(16 * sector, 0));
  io::IoStatus status = io::IoStatus::error;
  EXPECT_EQ(rig.read(0, 16 * sector, &status), std::vector<uint8_t>(16 * sector, 0));
  EXPECT_EQ(status, io::IoStatus::ok);
}

// The durability contract as a property: whatever the writes, syncs, partial progress and
// crashes, every sector whose last completed write was covered by a completed sync (and that
// was not written since) reads back exactly that write after every crash. Sectors never written
// keep their formatted zeroes. The model is built only from completion callbacks.
RC_GTEST_PROP(SimDiskProperty, SyncedDataSurvivesAnyCrashSequence, ()) {
  constexpr uint64_t sectors = 8;
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
  Rig rig(seed, 3, sectors);
  rig.profile.slow_probability = 0.1;

  struct Model {
    std::vector<std::vector<uint8_t>> current;  // last completed write per sector
    std::vector<uint64_t> version;              // completed writes per sector
    std::map<uint64_t, std::vector<uint8_t>> known_durable;
  };
  auto model = std::make_shared<Model>();
  model->current.assign(sectors, std::vector<uint8_t>(sector, 0));
  model->version.assign(sectors, 0);
  for (uint64_t s = 0; s < sectors; s++) model->known_durable[s] = model->current[s];

  auto check = [&] {
    for (const auto& [s, bytes] : model->known_durable) {
      RC_ASSERT(slice(rig.disk().durable_bytes(), s * sector, sector) == bytes);
      RC_ASSERT(slice(rig.disk().current_bytes(), s * sector, sector) == bytes);
    }
  };

  const int operations = *rc::gen::inRange(1, 60);
  uint64_t data_seed = seed;
  for (int op = 0; op < operations; op++) {
    const int choice = *rc::gen::inRange(0, 10);
    if (choice < 4) {
      const uint64_t count = *rc::gen::inRange<uint64_t>(1, 4);
      const uint64_t first = *rc::gen::inRange<uint64_t>(0, sectors - count + 1);
      const std::vector<uint8_t> data = pattern(++data_seed, count * sector);
      rig.disk().write(first * sector, data, [model, first, count, data](io::IoStatus status) {
        for (uint64_t i = 0; i < count; i++) {
          const uint64_t s = first + i;
          model->current[s] = slice(data, i * sector, sector);
          model->version[s]++;
          model->known_durable.erase(s);  // Overwritten: the synced copy may be gone.
        }
      });
    } else if (choice < 6) {
      // Covers what completed so far; known durable once it completes, unless overwritten.
      std::vector<std::pair<uint64_t, uint64_t>> covered;
      for (uint64_t s = 0; s < sectors; s++) covered.push_back({s, model->version[s]});
      rig.disk().sync([model, covered](io::IoStatus status) {
        for (const auto& [s, version] : covered) {
          if (model->version[s] == version) model->known_durable[s] = model->current[s];
        }
      });
    } else if (choice < 9) {
      const int steps = *rc::gen::inRange(0, 8);
      for (int i = 0; i < steps; i++) rig.world.step(UINT64_MAX);
    } else {
      rig.node().crash();
      check();
      rig.node().restart();
      // Whatever survived is durable now, and must survive the next crash too.
      for (uint64_t s = 0; s < sectors; s++) {
        model->current[s] = slice(rig.disk().current_bytes(), s * sector, sector);
        model->version[s]++;
        model->known_durable[s] = model->current[s];
      }
    }
  }
  rig.node().crash();
  check();
}

}  // namespace
}  // namespace keel::sim
