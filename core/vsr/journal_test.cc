// The WAL's write rule against a device whose syncs fail: an entry is reported durable only
// after an attempt whose every sync succeeded, even though a failed attempt reads back intact
// (docs/architecture.md, durability contract point 6).

#include "core/vsr/journal.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/vsr/config.h"
#include "fuzz/memory_storage.h"

namespace keel::vsr {
namespace {

constexpr uint64_t cluster = 9;

// A device in memory whose first syncs_failing syncs fail. Callbacks run from run(), never
// inside the call that started them.
class FlakySyncStorage final : public io::BlockStorage {
 public:
  FlakySyncStorage(uint64_t size_bytes, uint32_t syncs_failing)
      : bytes_(size_bytes, 0), syncs_failing_(syncs_failing) {}
  uint64_t size_bytes() const override { return bytes_.size(); }
  void read(uint64_t offset_bytes, std::span<uint8_t> buffer, io::IoCallback callback) override {
    std::memcpy(buffer.data(), bytes_.data() + offset_bytes, buffer.size());
    later(std::move(callback), io::IoStatus::ok);
  }
  void write(uint64_t offset_bytes, std::span<const uint8_t> buffer,
             io::IoCallback callback) override {
    std::memcpy(bytes_.data() + offset_bytes, buffer.data(), buffer.size());
    later(std::move(callback), io::IoStatus::ok);
  }
  void sync(io::IoCallback callback) override {
    syncs_++;
    const bool fail = syncs_failing_ > 0;
    if (fail) syncs_failing_--;
    later(std::move(callback), fail ? io::IoStatus::error : io::IoStatus::ok);
  }
  void run() {
    while (!pending_.empty()) {
      auto [callback, status] = std::move(pending_.front());
      pending_.pop_front();
      callback(status);
    }
  }
  uint32_t syncs() const { return syncs_; }

 private:
  void later(io::IoCallback callback, io::IoStatus status) {
    pending_.emplace_back(std::move(callback), status);
  }
  std::vector<uint8_t> bytes_;
  uint32_t syncs_failing_;
  uint32_t syncs_ = 0;
  std::deque<std::pair<io::IoCallback, io::IoStatus>> pending_;
};

proto::Header header_for(const std::string& body) {
  proto::Header header = root_header(cluster);
  header.set_op(1);
  header.set_parent(root_header(cluster).checksum());
  header.set_body_size(body.size());
  header.set_body_checksum(body_checksum(body));
  header.set_checksum(header_checksum(header, cluster));
  return header;
}

std::optional<bool> write_entry(uint32_t syncs_failing, uint32_t* syncs = nullptr) {
  const Config config = fuzz::small_wal_config();
  FlakySyncStorage storage(Layout(config).total_size_bytes, syncs_failing);
  Journal journal(config, storage, cluster);
  const std::string body = "a prepare's body";
  std::optional<bool> durable;
  journal.write_entry(header_for(body), body, [&](bool d) { durable = d; });
  storage.run();
  if (syncs != nullptr) *syncs = storage.syncs();
  return durable;
}

TEST(JournalSync, AnEntryIsDurableOnceItsSyncsSucceed) {
  uint32_t syncs = 0;
  EXPECT_EQ(write_entry(0, &syncs), std::optional<bool>(true));
  EXPECT_EQ(syncs, 2u);  // the prepare slot, then the ring sector
}

TEST(JournalSync, AFailedSyncMakesTheAttemptRepeat) {
  uint32_t syncs = 0;
  EXPECT_EQ(write_entry(1, &syncs), std::optional<bool>(true));
  EXPECT_EQ(syncs, 4u) << "the whole entry is written and synced again";
}

TEST(JournalSync, SyncsThatNeverSucceedAreNeverDurable) {
  uint32_t syncs = 0;
  EXPECT_EQ(write_entry(1000, &syncs), std::optional<bool>(false));
  EXPECT_EQ(syncs, 2 * Journal::write_attempts_max);
}

}  // namespace
}  // namespace keel::vsr
