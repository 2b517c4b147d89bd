#include "core/vsr/data_file.h"

#include <fmt/format.h>

#include <array>

#include "io/assert.h"
#include "io/storage.h"

namespace keel::vsr {
namespace {

constexpr uint64_t sector_size = io::BlockStorage::sector_size_bytes;

struct LayoutField {
  const char* name;
  uint64_t recorded;
  uint64_t configured;
};

std::array<LayoutField, 5> layout_fields(const proto::DataFileConfig& recorded,
                                         const Config& config) {
  return {{
      {"wal_slots", recorded.wal_slots(), config.wal_slots},
      {"message_size_bytes_max", recorded.message_size_bytes_max(), config.message_size_bytes_max},
      {"snapshot_size_bytes_max", recorded.snapshot_size_bytes_max(),
       config.snapshot_size_bytes_max},
      {"checkpoint_interval", recorded.checkpoint_interval(), config.checkpoint_interval},
      {"checkpoint_retention", recorded.checkpoint_retention(), config.checkpoint_retention},
  }};
}

WalSlotReport damaged(uint64_t offset_bytes, std::string why) {
  WalSlotReport report;
  report.verdict = WalSlotVerdict::damaged;
  report.offset_bytes = offset_bytes;
  report.why = std::move(why);
  return report;
}

// A valid part whose op belongs in another slot was written here by mistake: misdirected.
std::string misdirected(const Layout& layout, const char* part, uint64_t slot, uint64_t op) {
  if (op % layout.wal_slots == slot) return "";
  return fmt::format("{} holds op {}, which belongs in slot {}: a misdirected write", part, op,
                     op % layout.wal_slots);
}

// Both parts verify and belong here: they agree, or the order of writes says which is newer.
WalSlotReport judge_pair(const Layout& layout, uint64_t slot, const Journal::SlotRead& read) {
  const proto::Header& ring = read.ring_header;
  const proto::Header& prepare = read.prepare_header;
  WalSlotReport report;
  report.op = prepare.op();
  if (ring.checksum() == prepare.checksum()) {
    if (read.ring_has_body && !read.prepare_has_body) {
      return damaged(layout.prepare_offset(slot),
                     fmt::format("the ring header says the prepare slot holds the body of op "
                                 "{}, but it holds the header alone",
                                 prepare.op()));
    }
    report.verdict = WalSlotVerdict::valid;
    report.has_body = read.prepare_has_body;
    return report;
  }
  if (prepare.op() < ring.op()) {
    return damaged(layout.prepare_offset(slot),
                   fmt::format("the ring header names op {} but the prepare slot holds the older "
                               "op {}: a lost prepare write",
                               ring.op(), prepare.op()));
  }
  report.verdict = WalSlotVerdict::interrupted;
  report.offset_bytes = layout.header_offset(slot);
  report.why = fmt::format(
      "the prepare slot holds op {} (view {}), the ring header op {} (view {}): a write a crash "
      "interrupted; the replica keeps the prepare",
      prepare.op(), prepare.view(), ring.op(), ring.view());
  return report;
}

}  // namespace

proto::DataFileConfig data_file_config(const Config& config) {
  proto::DataFileConfig recorded;
  recorded.set_wal_slots(config.wal_slots);
  recorded.set_message_size_bytes_max(config.message_size_bytes_max);
  recorded.set_snapshot_size_bytes_max(config.snapshot_size_bytes_max);
  recorded.set_checkpoint_interval(config.checkpoint_interval);
  recorded.set_checkpoint_retention(config.checkpoint_retention);
  return recorded;
}

std::string layout_mismatch(const proto::SuperblockState& state, const Config& config) {
  if (!state.has_data_file()) {
    return "the data file does not record the configuration it was formatted with (formatted "
           "by an older keel): format it again";
  }
  std::string mismatch;
  for (const LayoutField& field : layout_fields(state.data_file(), config)) {
    if (field.recorded == field.configured) continue;
    if (!mismatch.empty()) mismatch += "; ";
    mismatch += fmt::format("the data file was formatted with {} = {}, the config says {}",
                            field.name, field.recorded, field.configured);
  }
  return mismatch;
}

std::string recorded_layout(const proto::SuperblockState& state, Config& config) {
  if (!state.has_data_file()) {
    return "the superblock does not record the data file's layout (formatted by an older keel)";
  }
  const proto::DataFileConfig& recorded = state.data_file();
  // Bounds that keep the layout's arithmetic far from overflow; any formatted file is within.
  const bool plausible =
      recorded.wal_slots() > 0 && recorded.wal_slots() <= (uint64_t{1} << 32) &&
      recorded.message_size_bytes_max() > 0 && recorded.message_size_bytes_max() <= (1u << 20) &&
      recorded.snapshot_size_bytes_max() > 0 &&
      recorded.snapshot_size_bytes_max() <= (uint64_t{1} << 40) &&
      recorded.checkpoint_interval() > 0 && recorded.checkpoint_retention() > 0 &&
      recorded.checkpoint_retention() <= 8;
  if (!plausible) return "the superblock records an impossible layout";
  config.wal_slots = recorded.wal_slots();
  config.message_size_bytes_max = recorded.message_size_bytes_max();
  config.snapshot_size_bytes_max = recorded.snapshot_size_bytes_max();
  config.checkpoint_interval = recorded.checkpoint_interval();
  config.checkpoint_retention = recorded.checkpoint_retention();
  KEEL_ASSERT(layout_mismatch(state, config).empty());
  return "";
}

const char* wal_slot_verdict_name(WalSlotVerdict verdict) {
  switch (verdict) {
    case WalSlotVerdict::empty:
      return "empty";
    case WalSlotVerdict::valid:
      return "valid";
    case WalSlotVerdict::interrupted:
      return "interrupted";
    case WalSlotVerdict::damaged:
      return "damaged";
  }
  return "unknown";
}

WalSlotReport judge_wal_slot(const Layout& layout, uint64_t slot, const Journal::SlotRead& read) {
  KEEL_ASSERT(slot < layout.wal_slots);
  using Part = Journal::Part;
  const uint64_t ring_at = layout.header_offset(slot);
  const uint64_t prepare_at = layout.prepare_offset(slot);
  if (read.ring == Part::garbage) {
    return damaged(ring_at,
                   "ring header sector: not zeros, and does not verify (unreadable, "
                   "torn or damaged, or another cluster's)");
  }
  if (read.prepare == Part::garbage) {
    return damaged(prepare_at,
                   "prepare slot: not zeros, and does not verify (unreadable, bad "
                   "checksum, a body that does not match its header, or another "
                   "cluster's)");
  }
  if (read.ring == Part::valid) {
    std::string why = misdirected(layout, "ring header sector", slot, read.ring_header.op());
    if (!why.empty()) return damaged(ring_at, std::move(why));
  }
  if (read.prepare == Part::valid) {
    std::string why = misdirected(layout, "prepare slot", slot, read.prepare_header.op());
    if (!why.empty()) return damaged(prepare_at, std::move(why));
  }
  if (read.ring == Part::valid && read.prepare == Part::empty) {
    return damaged(prepare_at,
                   fmt::format("the ring header names op {} but the prepare slot is empty",
                               read.ring_header.op()));
  }
  if (read.ring == Part::empty && read.prepare == Part::valid) {
    WalSlotReport report;
    report.verdict = WalSlotVerdict::interrupted;
    report.op = read.prepare_header.op();
    report.offset_bytes = ring_at;
    report.why = fmt::format(
        "the prepare slot holds op {} but the ring header sector is empty: a write a crash "
        "interrupted; the replica keeps the prepare",
        read.prepare_header.op());
    return report;
  }
  if (read.ring == Part::empty) return WalSlotReport{};
  return judge_pair(layout, slot, read);
}

WalSlotReport inspect_wal_slot(const Layout& layout, uint64_t cluster_id, uint64_t slot,
                               ReadBytes read, std::vector<uint8_t>& buffer) {
  KEEL_ASSERT(slot < layout.wal_slots);
  buffer.assign(sector_size + layout.prepare_slot_size_bytes, 0);
  uint8_t* ring = buffer.data();
  uint8_t* prepare = ring + sector_size;
  const bool ring_ok = read(layout.header_offset(slot), std::span<uint8_t>(ring, sector_size));
  bool prepare_ok = read(layout.prepare_offset(slot), std::span<uint8_t>(prepare, sector_size));
  if (!ring_ok) return damaged(layout.header_offset(slot), "ring header sector: the read failed");
  if (!prepare_ok) return damaged(layout.prepare_offset(slot), "prepare slot: the read failed");
  const uint64_t needed = Journal::read_prepare_bytes(layout, prepare);
  if (needed > sector_size) {
    prepare_ok = read(layout.prepare_offset(slot) + sector_size,
                      std::span<uint8_t>(prepare + sector_size, needed - sector_size));
    if (!prepare_ok) {
      return damaged(layout.prepare_offset(slot) + sector_size, "prepare slot: the read failed");
    }
  }
  Journal::SlotRead decoded;
  Journal::decode_slot(layout, cluster_id, ring, prepare, ring_ok, prepare_ok, decoded);
  return judge_wal_slot(layout, slot, decoded);
}

}  // namespace keel::vsr
