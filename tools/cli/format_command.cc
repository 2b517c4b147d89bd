// `keel format`: creates a replica's data file.

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "core/vsr/config.h"
#include "core/vsr/header.h"
#include "core/vsr/replica.h"
#include "io/assert.h"
#include "runtime/file_storage.h"
#include "runtime/loop.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "tools/cli/data_file.h"

namespace keel::cli {
namespace {

struct FormatArgs {
  vsr::Config config;
  std::optional<uint64_t> cluster_id;
  std::optional<uint32_t> replica;
  bool replica_count_given = false;
  // A replacement for a replica whose disk was lost: no superblock, so the replica starts in
  // recovery (VRR 4.3) and takes its state from its peers instead of voting with an empty log.
  bool recover = false;
  std::string path;
};

FormatArgs parse_format_args(const std::vector<std::string>& args) {
  FormatArgs parsed;
  vsr::Config& config = parsed.config;
  ArgReader reader(args);
  while (!reader.done()) {
    const std::string flag = reader.next();
    if (take_data_file_arg(reader, flag, parsed.path)) continue;
    const auto number = [&](uint64_t min, uint64_t max) {
      return parse_u64(flag, reader.value(flag), min, max);
    };
    if (flag == "--recover") {
      reader.no_value(flag);
      parsed.recover = true;
    } else if (flag == "--cluster") {
      parsed.cluster_id = number(0, UINT64_MAX);
    } else if (flag == "--replica") {
      parsed.replica = static_cast<uint32_t>(number(0, 5));
    } else if (flag == "--replica-count") {
      config.replica_count = static_cast<uint32_t>(number(1, 6));
      parsed.replica_count_given = true;
    } else if (flag == "--wal-slots") {
      config.wal_slots = number(1, uint64_t{1} << 32);
    } else if (flag == "--message-size-max") {
      config.message_size_bytes_max = number(1, uint64_t{1} << 20);
    } else if (flag == "--snapshot-size-max") {
      config.snapshot_size_bytes_max = number(1, uint64_t{1} << 40);
    } else if (flag == "--checkpoint-interval") {
      config.checkpoint_interval = number(1, UINT64_MAX);
    } else if (flag == "--checkpoint-retention") {
      config.checkpoint_retention = static_cast<uint32_t>(number(1, 8));
    } else {
      throw UsageError(fmt::format("unknown flag '{}'", flag));
    }
  }
  if (!parsed.cluster_id) throw UsageError("--cluster is required");
  if (!parsed.replica) throw UsageError("--replica is required");
  if (!parsed.replica_count_given) throw UsageError("--replica-count is required");
  if (parsed.path.empty()) throw UsageError("which data file? give a PATH or --data-dir DIR");
  if (*parsed.replica >= config.replica_count) {
    throw UsageError(fmt::format("--replica {} is not below --replica-count {}", *parsed.replica,
                                 config.replica_count));
  }
  // The transfer chunk is no part of the layout: keep it within a message so that validate()
  // judges the values that are.
  if (config.checkpoint_chunk_bytes > config.message_size_bytes_max) {
    config.checkpoint_chunk_bytes = config.message_size_bytes_max;
  }
  const std::string invalid = config.validate();
  if (!invalid.empty()) throw UsageError(fmt::format("invalid configuration: {}", invalid));
  return parsed;
}

// Writes the superblock zone at offset 0 and syncs, through the runtime's own storage.
std::string write_zone(const std::string& path, const std::vector<uint8_t>& zone) {
  std::string why;
  std::unique_ptr<runtime::Loop> loop = runtime::Loop::create_preferred(why);
  if (loop == nullptr) return why;
  std::string error;
  std::unique_ptr<runtime::FileStorage> storage = runtime::FileStorage::open(*loop, path, error);
  if (!storage) return error;
  std::optional<io::IoStatus> wrote;
  std::optional<io::IoStatus> synced;
  storage->write(0, zone, [&](io::IoStatus status) {
    wrote = status;
    storage->sync([&](io::IoStatus sync_status) { synced = sync_status; });
  });
  loop->run_until([&] { return synced.has_value(); });
  if (wrote != io::IoStatus::ok || synced != io::IoStatus::ok) {
    return fmt::format("cannot write the superblock of {}: the device failed", path);
  }
  return "";
}

void print_formatted(const FormatArgs& parsed, const vsr::Layout& layout) {
  const vsr::Config& config = parsed.config;
  fmt::print("formatted {}: {} bytes ({:.1f} MiB), cluster {}, replica {} of {}\n", parsed.path,
             layout.total_size_bytes, static_cast<double>(layout.total_size_bytes) / (1 << 20),
             *parsed.cluster_id, *parsed.replica, config.replica_count);
  fmt::print("{}", describe_layout(layout));
  fmt::print(
      "the replica's config file must carry the same values (a replica refuses a file formatted "
      "with others):\n"
      "  [storage]\n"
      "  wal_slots = {}\n"
      "  message_size_bytes_max = {}\n"
      "  snapshot_size_bytes_max = {}\n"
      "  [checkpoint]\n"
      "  checkpoint_interval = {}\n"
      "  checkpoint_retention = {}\n",
      config.wal_slots, config.message_size_bytes_max, config.snapshot_size_bytes_max,
      config.checkpoint_interval, config.checkpoint_retention);
}

// Writing zeros over a default-size file (4.3 GiB) takes seconds: a line on stderr per quarter.
runtime::FileStorage::Progress zeroing_progress(const std::string& path) {
  return [path, quarters_told = 0](uint64_t written_bytes, uint64_t size_bytes) mutable {
    if (size_bytes < (uint64_t{1} << 30)) return;
    const int quarters = static_cast<int>(written_bytes * 4 / size_bytes);
    if (quarters == quarters_told) return;
    quarters_told = quarters;
    fmt::print(stderr, "keel format: {}: zeros written {:.1f} of {:.1f} GiB\n", path,
               static_cast<double>(written_bytes) / (1 << 30),
               static_cast<double>(size_bytes) / (1 << 30));
  };
}

}  // namespace

int format_command(const std::vector<std::string>& args) {
  const FormatArgs parsed = parse_format_args(args);
  const vsr::Layout layout(parsed.config);
  KEEL_ASSERT(layout.total_size_bytes == vsr::Replica::storage_size_bytes(parsed.config));
  std::error_code ignored;
  if (std::filesystem::exists(parsed.path, ignored)) {
    throw EnvironmentError(
        fmt::format("{} already exists: keel format never overwrites a data file", parsed.path));
  }
  const std::string created = runtime::FileStorage::create(parsed.path, layout.total_size_bytes,
                                                           zeroing_progress(parsed.path));
  if (!created.empty()) throw EnvironmentError(created);
  if (parsed.recover) {
    fmt::print(
        "formatted {} for recovery: {} bytes, no superblock; replica {} recovers its state "
        "from its peers when it starts (docs/operations.md, \"Replacing a lost replica\")\n",
        parsed.path, layout.total_size_bytes, *parsed.replica);
    return 0;
  }
  const std::string written = write_zone(
      parsed.path, vsr::Replica::format(parsed.config, *parsed.cluster_id, *parsed.replica));
  if (!written.empty()) {
    // Leave nothing a replica could take for a formatted file.
    unlink(parsed.path.c_str());
    throw EnvironmentError(written);
  }
  print_formatted(parsed, layout);
  return 0;
}

}  // namespace keel::cli
