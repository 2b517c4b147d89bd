#include "sim/vsr_promises.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/vsr/journal.h"
#include "core/vsr/replica.h"
#include "core/vsr/superblock.h"
#include "core/vsr/wire.h"
#include "fuzz/memory_storage.h"

namespace keel::sim {
namespace {

constexpr uint64_t cluster = 7;
constexpr uint32_t replica = 1;
constexpr uint64_t sector = io::BlockStorage::sector_size_bytes;

vsr::Config small_config() {
  vsr::Config config = fuzz::small_wal_config();
  config.message_size_bytes_max = 16 * 1024;  // the smallest a replica takes
  config.checkpoint_chunk_bytes = 4096;
  return config;
}

// A freshly formatted replica's disk, the journal that writes to it, and the audit of it.
struct Rig {
  Rig()
      : config(small_config()),
        storage(formatted(config)),
        journal(config, storage, cluster),
        audit(config, cluster) {}

  static std::vector<uint8_t> formatted(const vsr::Config& config) {
    std::vector<uint8_t> bytes(vsr::Replica::storage_size_bytes(config), 0);
    const std::vector<uint8_t> zone = vsr::Replica::format(config, cluster, replica);
    std::memcpy(bytes.data(), zone.data(), zone.size());
    return bytes;
  }

  // Calls use with the disk as the audit sees it: every byte written so far (MemoryStorage keeps
  // no unsynced state, so this is what a crash would keep), with the sectors in `faulty` damaged
  // since.
  template <typename Use>
  auto with_image(Use use) {
    std::vector<uint8_t> bytes(storage.size_bytes());
    storage.read(0, bytes, [](io::IoStatus) {});
    storage.run();
    const auto is_faulty = [this](uint64_t s) { return faulty.count(s) > 0; };
    return use(DurableImage{bytes, is_faulty, wipes});
  }

  std::optional<std::string> audit_message(vsr::Kind kind,
                                           const google::protobuf::MessageLite& message,
                                           uint64_t commit_min = 0) {
    const std::string body = message.SerializeAsString();
    return with_image([&](const DurableImage& image) {
      return audit.audit(replica, static_cast<uint16_t>(kind),
                         std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size()),
                         commit_min, image);
    });
  }

  // A primary's count of itself among the holders of header's op in view.
  std::optional<std::string> audit_own_hold(uint64_t view, const vsr::proto::Header& header) {
    return with_image([&](const DurableImage& image) {
      return audit.audit_own_hold(replica, view, header.op(), header.checksum(), 0, image);
    });
  }

  // Writes the superblock's four copies with view and log_view, as the next sequence.
  void write_superblock(uint64_t view, uint64_t log_view) {
    vsr::Superblock superblock(storage, vsr::Layout(config).superblock_offset_bytes, cluster,
                               replica);
    superblock.open([](const vsr::Superblock::OpenResult& result) { ASSERT_TRUE(result.found); });
    storage.run();
    vsr::proto::SuperblockState state = superblock.state();
    state.set_view(view);
    state.set_log_view(log_view);
    std::optional<bool> durable;
    superblock.write(state, [&](bool d) { durable = d; });
    storage.run();
    ASSERT_EQ(durable, std::optional<bool>(true));
  }

  // Writes op's entry (ring header and prepare with body) in view, chained to parent.
  vsr::proto::Header write_entry(uint64_t op, uint64_t view, uint64_t parent) {
    const std::string body = "body of op " + std::to_string(op);
    vsr::proto::Header header = vsr::root_header(cluster);
    header.set_op(op);
    header.set_view(view);
    header.set_parent(parent);
    vsr::seal_header(header, body, cluster);
    std::optional<bool> durable;
    journal.write_entry(header, body, [&](bool d) { durable = d; });
    storage.run();
    EXPECT_EQ(durable, std::optional<bool>(true));
    return header;
  }

  void zero(uint64_t offset_bytes, uint64_t size_bytes) {
    std::vector<uint8_t> zeros(size_bytes, 0);
    storage.write(offset_bytes, zeros, [](io::IoStatus) {});
    storage.run();
  }

  vsr::Config config;
  fuzz::MemoryStorage storage;
  vsr::Journal journal;
  VsrPromiseAudit audit;
  std::set<uint64_t> faulty;
  uint64_t wipes = 0;
};

vsr::proto::DoViewChange vote(uint64_t view) {
  vsr::proto::DoViewChange dvc;
  dvc.set_view(view);
  dvc.set_replica(replica);
  return dvc;
}

vsr::proto::PrepareOk ack(uint64_t view, const vsr::proto::Header& header) {
  vsr::proto::PrepareOk ok;
  ok.set_view(view);
  ok.set_op(header.op());
  ok.set_checksum(header.checksum());
  ok.set_replica(replica);
  return ok;
}

// VRR 4.2 and section 5: a replica that voted for view v never comes back in an older view.
TEST(VsrPromises, AVoteIsRejectedUntilItsViewIsDurable) {
  Rig rig;
  const std::optional<std::string> early = rig.audit_message(vsr::Kind::do_view_change, vote(1));
  ASSERT_TRUE(early.has_value());
  EXPECT_NE(early->find("voted (do_view_change) for view 1"), std::string::npos) << *early;
  rig.write_superblock(1, 0);
  EXPECT_EQ(rig.audit_message(vsr::Kind::do_view_change, vote(1)), std::nullopt);
  EXPECT_TRUE(rig.audit_message(vsr::Kind::do_view_change, vote(2)).has_value());
}

TEST(VsrPromises, ANewViewIsAnnouncedOnlyOnceItsLogViewIsDurable) {
  Rig rig;
  vsr::proto::StartView start;
  start.set_view(2);
  start.set_replica(replica);
  rig.write_superblock(2, 0);  // voted, the log not installed yet
  EXPECT_TRUE(rig.audit_message(vsr::Kind::start_view, start).has_value());
  rig.write_superblock(2, 2);
  EXPECT_EQ(rig.audit_message(vsr::Kind::start_view, start), std::nullopt);
}

// VRR 4.1 step 4, with PAR's ring of redundant headers: a prepare_ok for op k says every op up
// to k is durable, body and ring header, in the view it names.
TEST(VsrPromises, AnAcknowledgementNeedsEveryEntryUpToItDurable) {
  Rig rig;
  rig.write_superblock(1, 1);
  const vsr::proto::Header one = rig.write_entry(1, 1, vsr::root_header(cluster).checksum());
  vsr::proto::Header two = vsr::root_header(cluster);
  two.set_op(2);
  two.set_view(1);
  two.set_parent(one.checksum());
  vsr::seal_header(two, "not written", cluster);
  const std::optional<std::string> unwritten =
      rig.audit_message(vsr::Kind::prepare_ok, ack(1, two));
  ASSERT_TRUE(unwritten.has_value());
  EXPECT_NE(unwritten->find("holds nothing"), std::string::npos) << *unwritten;

  two = rig.write_entry(2, 1, one.checksum());
  EXPECT_EQ(rig.audit_message(vsr::Kind::prepare_ok, ack(1, two)), std::nullopt);
  // In a view newer than the durable log view: a restart would take the log back.
  EXPECT_TRUE(rig.audit_message(vsr::Kind::prepare_ok, ack(2, two)).has_value());

  // Op 1's ring header lost: op 2's acknowledgement covers it too.
  const vsr::Layout layout(rig.config);
  rig.zero(layout.header_offset(1), sector);
  const std::optional<std::string> ring_lost =
      rig.audit_message(vsr::Kind::prepare_ok, ack(1, two));
  ASSERT_TRUE(ring_lost.has_value());
  EXPECT_NE(ring_lost->find("ring slot 1 does not name it"), std::string::npos) << *ring_lost;
  // Unless op 1 is applied (it may have come by state transfer) ...
  EXPECT_EQ(rig.audit_message(vsr::Kind::prepare_ok, ack(1, two), 1), std::nullopt);
  // ... or the sector was damaged since: its bytes say nothing of what was written.
  rig.faulty.insert(layout.header_offset(1) / sector);
  EXPECT_EQ(rig.audit_message(vsr::Kind::prepare_ok, ack(1, two)), std::nullopt);
}

// VRR 4.1 step 5, with disks: a primary counts itself among an op's holders only once the op
// is durable in its own log, as a backup acknowledges it.
TEST(VsrPromises, APrimaryCountsItselfOnlyOnceItsOwnEntryIsDurable) {
  Rig rig;
  rig.write_superblock(1, 1);
  vsr::proto::Header one = vsr::root_header(cluster);
  one.set_op(1);
  one.set_view(1);
  one.set_parent(vsr::root_header(cluster).checksum());
  vsr::seal_header(one, "body of op 1", cluster);
  const std::optional<std::string> early = rig.audit_own_hold(1, one);
  ASSERT_TRUE(early.has_value());
  EXPECT_NE(early->find("as a primary counting itself"), std::string::npos) << *early;
  one = rig.write_entry(1, 1, vsr::root_header(cluster).checksum());
  EXPECT_EQ(rig.audit_own_hold(1, one), std::nullopt);
  EXPECT_TRUE(rig.audit_own_hold(2, one).has_value());  // a view its log view has not reached
}

// A replica restarted from a superblock older than its promises (a bug in the read rule, say)
// is caught at its first message in the older view, though that view is durable.
TEST(VsrPromises, AViewOnceSentInIsNeverGoneBackOnUntilTheDiskIsWiped) {
  Rig rig;
  rig.write_superblock(3, 0);
  EXPECT_EQ(rig.audit_message(vsr::Kind::do_view_change, vote(3)), std::nullopt);
  const std::optional<std::string> back = rig.audit_message(vsr::Kind::do_view_change, vote(2));
  ASSERT_TRUE(back.has_value());
  EXPECT_NE(back->find("do_view_change in view 2 after a do_view_change in view 3"),
            std::string::npos)
      << *back;
  rig.wipes = 1;  // recovered from the others: its old promises are theirs to keep
  EXPECT_EQ(rig.audit_message(vsr::Kind::do_view_change, vote(2)), std::nullopt);
}

TEST(VsrPromises, OtherMessagesPromiseNothingAboutTheDisk) {
  Rig rig;
  vsr::proto::StartViewChange message;
  message.set_view(9);
  EXPECT_EQ(rig.audit_message(vsr::Kind::start_view_change, message), std::nullopt);
}

}  // namespace
}  // namespace keel::sim
