#pragma once
// The data file as a whole (docs/vsr.md, "Storage"), for `keel format` and the offline tools
// (`keel verify-log`), and for the check that a configuration fits a file. Pure functions over
// bytes or over a synchronous read: core/ does no I/O, tools/cli reads the file.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "core/vsr/config.h"
#include "core/vsr/header.h"
#include "core/vsr/journal.h"
#include "core/vsr/superblock.pb.h"

namespace keel::vsr {

// The values of config the layout depends on, recorded in the superblock at format time.
proto::DataFileConfig data_file_config(const Config& config);

// "" if config puts everything where the file's superblock says it was formatted to, else what
// differs, e.g. "the data file was formatted with wal_slots = 256, the config says 16384". A
// superblock that records no layout (written before it was recorded) matches nothing.
std::string layout_mismatch(const proto::SuperblockState& state, const Config& config);

// Sets config's layout values to the ones the superblock records (the rest stay as they are),
// so that Layout(config) is the file's. Returns "" or why it cannot.
std::string recorded_layout(const proto::SuperblockState& state, Config& config);

// A synchronous read of out.size() bytes at offset_bytes; false if the device failed.
using ReadBytes = absl::FunctionRef<bool(uint64_t offset_bytes, std::span<uint8_t> out)>;

enum class WalSlotVerdict : uint8_t {
  empty,        // both parts zero: never written, or cleared
  valid,        // both parts hold the same entry of this slot
  interrupted,  // the prepare is newer than the ring header: a crash came between the two
  damaged,      // unreadable, corrupt, misdirected, or a ring header its prepare contradicts
};
const char* wal_slot_verdict_name(WalSlotVerdict verdict);

struct WalSlotReport {
  WalSlotVerdict verdict = WalSlotVerdict::empty;
  uint64_t op = 0;            // valid and interrupted: the entry's op (the prepare's)
  bool has_body = false;      // valid: the prepare slot holds the body, not the header alone
  uint64_t offset_bytes = 0;  // interrupted and damaged: where the part at fault starts
  std::string why;            // interrupted and damaged: what is wrong
};

// Judges a slot the journal has decoded (Journal::decode_slot), by the rules the replica starts
// by (docs/vsr.md, "Recovery rules"): a valid part of another slot is misdirected, and the
// prepare is written before its ring header.
WalSlotReport judge_wal_slot(const Layout& layout, uint64_t slot, const Journal::SlotRead& read);

// Reads (as the journal does at start-up) and judges one slot. buffer is scratch space.
WalSlotReport inspect_wal_slot(const Layout& layout, uint64_t cluster_id, uint64_t slot,
                               ReadBytes read, std::vector<uint8_t>& buffer);

}  // namespace keel::vsr
