// `keel dump-superblock`, `keel verify-superblock` and `keel verify-log`: offline checks of a
// data file. They only read it, under a shared lock (a running replica holds an exclusive one).

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "core/vsr/data_file.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/data_file.h"

namespace keel::cli {
namespace {

using vsr::Superblock;
using CopyStatus = Superblock::CopyStatus;

bool decoded(CopyStatus status) {
  return status == CopyStatus::current || status == CopyStatus::stale ||
         status == CopyStatus::foreign;
}

void print_copy(const SuperblockView& view, uint32_t copy) {
  const Superblock::Copy& c = view.copies[copy];
  fmt::print("copy {} at offset {}: {}", copy, copy_offset_bytes(copy),
             vsr::copy_status_name(c.status));
  if (decoded(c.status)) {
    fmt::print(", sequence {}\n  {}\n", c.sequence, c.state.ShortDebugString());
  } else {
    fmt::print(": {}\n", copy_status_why(c.status));
  }
}

void print_lost(const std::string& path) {
  fmt::print(
      "{}: no superblock copy counts: never formatted, or lost; a replica started on it "
      "recovers from its peers (docs/vsr.md, \"Recovery\")\n",
      path);
}

}  // namespace

int dump_superblock_command(const std::vector<std::string>& args) {
  const DataFileReader file(data_file_only(args));
  const SuperblockView view = read_superblock(file);
  fmt::print("superblock of {} ({} bytes)\n", file.path(), file.size_bytes());
  for (uint32_t copy = 0; copy < Superblock::copies; copy++) print_copy(view, copy);
  if (!view.found()) {
    print_lost(file.path());
    return 1;
  }
  const Superblock::Copy& winner = view.copies[view.winner];
  fmt::print("winner: copy {}, sequence {}: cluster {}, replica {} of {}, view {}\n", view.winner,
             winner.sequence, winner.state.cluster_id(), winner.state.replica(),
             winner.state.replica_count(), winner.state.view());
  vsr::Config config;
  const std::string unknown = vsr::recorded_layout(winner.state, config);
  if (unknown.empty()) {
    fmt::print("layout:\n{}", describe_layout(vsr::Layout(config)));
  } else {
    fmt::print("layout unknown: {}\n", unknown);
  }
  return 0;
}

int verify_superblock_command(const std::vector<std::string>& args) {
  const DataFileReader file(data_file_only(args));
  const SuperblockView view = read_superblock(file);
  if (!view.found()) {
    print_lost(file.path());
    return 1;
  }
  const uint64_t newest = view.copies[view.winner].sequence;
  uint32_t not_current = 0;
  for (uint32_t copy = 0; copy < Superblock::copies; copy++) {
    const Superblock::Copy& c = view.copies[copy];
    if (c.status == CopyStatus::current) continue;
    not_current++;
    fmt::print("copy {} at offset {}: {}: {}", copy, copy_offset_bytes(copy),
               vsr::copy_status_name(c.status), copy_status_why(c.status));
    if (c.status == CopyStatus::stale) fmt::print(" (sequence {} < {})", c.sequence, newest);
    fmt::print("\n");
  }
  if (not_current == 0) {
    fmt::print("{}: all {} superblock copies current (sequence {})\n", file.path(),
               Superblock::copies, newest);
    return 0;
  }
  fmt::print(
      "{}: {} of {} superblock copies not current; the newest (sequence {}) counts, and a "
      "replica rewrites the others when it next starts\n",
      file.path(), not_current, Superblock::copies, newest);
  return 1;
}

namespace {

struct LogSummary {
  uint64_t valid_with_body = 0;
  uint64_t valid_header_only = 0;
  uint64_t empty = 0;
  uint64_t interrupted = 0;
  uint64_t damaged = 0;
  uint64_t op_min = UINT64_MAX;
  uint64_t op_max = 0;

  void add(const vsr::WalSlotReport& report) {
    switch (report.verdict) {
      case vsr::WalSlotVerdict::empty:
        empty++;
        return;
      case vsr::WalSlotVerdict::valid:
        (report.has_body ? valid_with_body : valid_header_only)++;
        break;
      case vsr::WalSlotVerdict::interrupted:
        interrupted++;
        break;
      case vsr::WalSlotVerdict::damaged:
        damaged++;
        return;
    }
    op_min = std::min(op_min, report.op);
    op_max = std::max(op_max, report.op);
  }
};

// Prints where the walk is every few seconds: a 4 GiB WAL on a cold cache takes a while.
class Progress {
 public:
  explicit Progress(uint64_t total) : total_(total), last_(std::chrono::steady_clock::now()) {}
  void at(uint64_t done) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(3)) return;
    last_ = now;
    fmt::print(stderr, "verify-log: slot {} of {} ({:.0f}%)\n", done, total_,
               100.0 * static_cast<double>(done) / static_cast<double>(total_));
  }

 private:
  const uint64_t total_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace

int verify_log_command(const std::vector<std::string>& args) {
  const DataFileReader file(data_file_only(args));
  const SuperblockView view = read_superblock(file);
  if (!view.found()) {
    print_lost(file.path());
    fmt::print("{}: the WAL's layout is unknown without a superblock: not checked\n", file.path());
    return 1;
  }
  const vsr::proto::SuperblockState& state = view.copies[view.winner].state;
  vsr::Config config;
  const std::string unknown = vsr::recorded_layout(state, config);
  if (!unknown.empty()) {
    fmt::print("{}: {}: the WAL is not checked\n", file.path(), unknown);
    return 1;
  }
  const vsr::Layout layout(config);
  const auto read = [&file](uint64_t offset_bytes, std::span<uint8_t> out) {
    return file.read(offset_bytes, out);
  };
  LogSummary summary;
  Progress progress(layout.wal_slots);
  std::vector<uint8_t> buffer;
  for (uint64_t slot = 0; slot < layout.wal_slots; slot++) {
    progress.at(slot);
    const vsr::WalSlotReport report =
        vsr::inspect_wal_slot(layout, state.cluster_id(), slot, read, buffer);
    summary.add(report);
    if (report.verdict == vsr::WalSlotVerdict::damaged ||
        report.verdict == vsr::WalSlotVerdict::interrupted) {
      fmt::print("slot {}: {} at offset {}: {}\n", slot, vsr::wal_slot_verdict_name(report.verdict),
                 report.offset_bytes, report.why);
    }
  }
  const uint64_t valid = summary.valid_with_body + summary.valid_header_only;
  fmt::print(
      "{}: {} WAL slots: {} valid ({} with body, {} header only), {} empty, {} interrupted, {} "
      "damaged; ",
      file.path(), layout.wal_slots, valid, summary.valid_with_body, summary.valid_header_only,
      summary.empty, summary.interrupted, summary.damaged);
  if (summary.op_min > summary.op_max) {
    fmt::print("no ops\n");
  } else {
    fmt::print("ops {}..{}\n", summary.op_min, summary.op_max);
  }
  return summary.damaged == 0 ? 0 : 1;
}

}  // namespace keel::cli
