// The offline view of a data file: the layout a superblock records, the superblock copies as
// `keel dump-superblock` sees them, and WAL slots as `keel verify-log` judges them.

#include "core/vsr/data_file.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/vsr/replica.h"
#include "core/vsr/superblock.h"
#include "fuzz/memory_storage.h"

namespace keel::vsr {
namespace {

constexpr uint64_t sector = io::BlockStorage::sector_size_bytes;
constexpr uint64_t cluster = 11;
using fuzz::MemoryStorage;

// The fuzz targets' small WAL, with sizes Config::validate() accepts.
Config small_config() {
  Config config = fuzz::small_wal_config();
  config.message_size_bytes_max = 16 * 1024;
  config.checkpoint_chunk_bytes = 4096;
  return config;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

proto::SuperblockState formatted_state(const Config& config) {
  const std::vector<uint8_t> zone = Replica::format(config, cluster, 1);
  std::array<Superblock::Copy, Superblock::copies> copies;
  const uint32_t winner = Superblock::inspect(
      std::span<const uint8_t, Superblock::zone_size_bytes>(zone.data(), zone.size()), copies);
  EXPECT_LT(winner, Superblock::copies);
  return copies[winner].state;
}

TEST(LayoutMismatch, AFormattedFileMatchesItsConfigOnly) {
  const Config config = small_config();
  const proto::SuperblockState state = formatted_state(config);
  EXPECT_EQ(layout_mismatch(state, config), "");
  Config other = config;
  other.wal_slots = 16384;
  EXPECT_EQ(layout_mismatch(state, other),
            "the data file was formatted with wal_slots = 8, the config says 16384");
  other.checkpoint_retention = 2;
  EXPECT_TRUE(contains(layout_mismatch(state, other),
                       "; the data file was formatted with "
                       "checkpoint_retention = 3"));
  Config timeouts = config;  // what the layout does not depend on may change
  timeouts.heartbeat_interval_ms = 50;
  timeouts.pipeline_max = 1;
  EXPECT_EQ(layout_mismatch(state, timeouts), "");
}

TEST(LayoutMismatch, AFileThatRecordsNoLayoutMatchesNothing) {
  proto::SuperblockState state = formatted_state(small_config());
  state.clear_data_file();
  EXPECT_TRUE(contains(layout_mismatch(state, small_config()), "does not record"));
  Config config;
  EXPECT_NE(recorded_layout(state, config), "");
}

TEST(RecordedLayout, GivesTheLayoutTheFileWasFormattedWith) {
  const Config small = small_config();
  Config config;  // the defaults: a much larger file
  EXPECT_EQ(recorded_layout(formatted_state(small), config), "");
  EXPECT_EQ(Layout(config).total_size_bytes, Replica::storage_size_bytes(small));
}

// --- The superblock zone, offline ---

struct Zone {
  std::vector<uint8_t> bytes;
  std::array<Superblock::Copy, Superblock::copies> copies;
  uint32_t inspect() {
    return Superblock::inspect(
        std::span<const uint8_t, Superblock::zone_size_bytes>(bytes.data(), bytes.size()), copies);
  }
};

TEST(SuperblockInspect, ClassifiesEachCopyWithoutKnowingTheOwner) {
  Zone zone{Replica::format(small_config(), cluster, 2), {}};
  EXPECT_EQ(zone.inspect(), 0u);
  for (const auto& copy : zone.copies) EXPECT_EQ(copy.status, Superblock::CopyStatus::current);
  EXPECT_EQ(zone.copies[0].state.replica(), 2u);

  zone.bytes[1 * sector + 100] ^= 1;                                         // torn
  std::copy_n(zone.bytes.begin(), sector, zone.bytes.begin() + 2 * sector);  // misdirected
  std::fill_n(zone.bytes.begin() + 3 * sector, sector, 0);                   // never written
  EXPECT_EQ(zone.inspect(), 0u);
  EXPECT_EQ(zone.copies[1].status, Superblock::CopyStatus::corrupt);
  EXPECT_EQ(zone.copies[2].status, Superblock::CopyStatus::misdirected);
  EXPECT_EQ(zone.copies[3].status, Superblock::CopyStatus::empty);
}

TEST(SuperblockInspect, TheNewestCopyNamesTheOwner) {
  // Copy 1 from another replica's file is foreign to the owner the newest copy names; with
  // equal sequences, the first verifying copy names it.
  Zone zone{Replica::format(small_config(), cluster, 2), {}};
  const std::vector<uint8_t> other = Replica::format(small_config(), cluster, 0);
  std::copy_n(other.begin() + sector, sector, zone.bytes.begin() + sector);
  EXPECT_EQ(zone.inspect(), 0u);
  EXPECT_EQ(zone.copies[1].status, Superblock::CopyStatus::foreign);
  std::fill_n(zone.bytes.begin(), sector, 0xab);
  EXPECT_EQ(zone.inspect(), 1u) << "same sequence: the first verifying copy names the owner";
  EXPECT_EQ(zone.copies[2].status, Superblock::CopyStatus::foreign);
}

// --- WAL slots, offline ---

class WalInspect : public ::testing::Test {
 protected:
  WalInspect()
      : config_(small_config()),
        layout_(config_),
        storage_(std::vector<uint8_t>(layout_.total_size_bytes, 0)),
        journal_(config_, storage_, cluster) {}

  // Writes op (in view) through the journal, chained to nothing in particular.
  proto::Header write(uint64_t op, uint64_t view, std::optional<std::string> body) {
    proto::Header header = root_header(cluster);
    header.set_operation(proto::APPLY);
    header.set_op(op);
    header.set_view(view);
    seal_header(header, body.value_or(""), cluster);
    std::optional<bool> durable;
    journal_.write_entry(header, std::move(body), [&](bool d) { durable = d; });
    storage_.run();
    EXPECT_EQ(durable, std::optional<bool>(true));
    return header;
  }
  void overwrite(uint64_t offset_bytes, std::vector<uint8_t> bytes) {
    storage_.write(offset_bytes, bytes, [](io::IoStatus) {});
    storage_.run();
  }
  std::vector<uint8_t> read(uint64_t offset_bytes, uint64_t size_bytes) {
    std::vector<uint8_t> bytes(size_bytes);
    EXPECT_TRUE(read_into(offset_bytes, bytes));
    return bytes;
  }
  bool read_into(uint64_t offset_bytes, std::span<uint8_t> out) {
    bool ok = false;
    storage_.read(offset_bytes, out, [&](io::IoStatus status) { ok = status == io::IoStatus::ok; });
    storage_.run();
    return ok;
  }
  WalSlotReport inspect(uint64_t slot) {
    return inspect_wal_slot(
        layout_, cluster, slot,
        [this](uint64_t offset_bytes, std::span<uint8_t> out) {
          return read_into(offset_bytes, out);
        },
        buffer_);
  }

  const Config config_;
  const Layout layout_;
  MemoryStorage storage_;
  Journal journal_;
  std::vector<uint8_t> buffer_;
};

TEST_F(WalInspect, WrittenSlotsAreValidAndTheRestEmpty) {
  write(1, 0, std::string(6000, 'x'));  // two sectors of body
  write(2, 0, std::nullopt);            // a header alone
  const WalSlotReport with_body = inspect(1);
  EXPECT_EQ(with_body.verdict, WalSlotVerdict::valid);
  EXPECT_EQ(with_body.op, 1u);
  EXPECT_TRUE(with_body.has_body);
  const WalSlotReport header_only = inspect(2);
  EXPECT_EQ(header_only.verdict, WalSlotVerdict::valid);
  EXPECT_FALSE(header_only.has_body);
  EXPECT_EQ(inspect(3).verdict, WalSlotVerdict::empty);
}

TEST_F(WalInspect, GarbageWhereZerosBelongIsDamage) {
  overwrite(layout_.header_offset(3), std::vector<uint8_t>(sector, 0x5a));
  overwrite(layout_.prepare_offset(4), std::vector<uint8_t>(sector, 0x5a));
  const WalSlotReport ring = inspect(3);
  EXPECT_EQ(ring.verdict, WalSlotVerdict::damaged);
  EXPECT_EQ(ring.offset_bytes, layout_.header_offset(3));
  const WalSlotReport prepare = inspect(4);
  EXPECT_EQ(prepare.verdict, WalSlotVerdict::damaged);
  EXPECT_EQ(prepare.offset_bytes, layout_.prepare_offset(4));
}

TEST_F(WalInspect, ADamagedBodyIsDamage) {
  write(1, 0, std::string(6000, 'x'));
  overwrite(layout_.prepare_offset(1) + sector, std::vector<uint8_t>(sector, 0));
  const WalSlotReport report = inspect(1);
  EXPECT_EQ(report.verdict, WalSlotVerdict::damaged);
  EXPECT_EQ(report.offset_bytes, layout_.prepare_offset(1));
}

TEST_F(WalInspect, AValidPartOfAnotherSlotIsMisdirected) {
  write(1, 0, std::string("body"));
  overwrite(layout_.header_offset(5), read(layout_.header_offset(1), sector));
  const WalSlotReport report = inspect(5);
  EXPECT_EQ(report.verdict, WalSlotVerdict::damaged);
  EXPECT_EQ(report.offset_bytes, layout_.header_offset(5));
  EXPECT_TRUE(contains(report.why, "misdirected")) << report.why;
}

TEST_F(WalInspect, APrepareNewerThanItsRingIsAnInterruptedWrite) {
  write(1, 0, std::string("old"));
  const std::vector<uint8_t> old_ring = read(layout_.header_offset(1), sector);
  write(1 + layout_.wal_slots, 1, std::string("new"));
  overwrite(layout_.header_offset(1), old_ring);  // the crash came before the ring write
  const WalSlotReport report = inspect(1);
  EXPECT_EQ(report.verdict, WalSlotVerdict::interrupted);
  EXPECT_EQ(report.op, 1 + layout_.wal_slots);

  overwrite(layout_.header_offset(1), std::vector<uint8_t>(sector, 0));
  EXPECT_EQ(inspect(1).verdict, WalSlotVerdict::interrupted);
}

TEST_F(WalInspect, ARingNewerThanItsPrepareIsDamage) {
  write(1, 0, std::string("old"));
  const std::vector<uint8_t> old_prepare = read(layout_.prepare_offset(1), sector);
  write(1 + layout_.wal_slots, 1, std::string("new"));
  overwrite(layout_.prepare_offset(1), old_prepare);  // a lost write
  EXPECT_EQ(inspect(1).verdict, WalSlotVerdict::damaged);
  overwrite(layout_.prepare_offset(1), std::vector<uint8_t>(sector, 0));
  const WalSlotReport report = inspect(1);
  EXPECT_EQ(report.verdict, WalSlotVerdict::damaged);
  EXPECT_TRUE(contains(report.why, "prepare slot is empty")) << report.why;
}

}  // namespace
}  // namespace keel::vsr
