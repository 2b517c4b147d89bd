#include "tools/cli/data_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/vsr/data_file.h"
#include "io/storage.h"

namespace keel::cli {
namespace {

constexpr uint64_t sector_size = io::BlockStorage::sector_size_bytes;

[[noreturn]] void fail(const std::string& what, const std::string& path, int error) {
  throw EnvironmentError(fmt::format("{} {}: {}", what, path, std::strerror(error)));
}

}  // namespace

bool take_data_file_arg(ArgReader& reader, const std::string& arg, std::string& path) {
  std::string taken;
  if (arg == "--data-dir") {
    taken = reader.value(arg) + "/" + data_file_name;
  } else if (!arg.starts_with("-")) {
    taken = arg;
  } else {
    return false;
  }
  if (!path.empty()) throw UsageError("give one data file: a PATH or --data-dir DIR");
  path = taken;
  return true;
}

std::string data_file_only(const std::vector<std::string>& args) {
  ArgReader reader(args);
  std::string path;
  while (!reader.done()) {
    const std::string arg = reader.next();
    if (!take_data_file_arg(reader, arg, path)) {
      throw UsageError(fmt::format("unknown flag '{}'", arg));
    }
  }
  if (path.empty()) throw UsageError("which data file? give a PATH or --data-dir DIR");
  return path;
}

DataFileReader::DataFileReader(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open", path, errno);
  if (flock(fd_, LOCK_SH | LOCK_NB) < 0) {
    const int error = errno;
    close(fd_);
    if (error == EWOULDBLOCK) {
      throw EnvironmentError(fmt::format("{} is in use: a running replica holds its lock", path));
    }
    fail("cannot lock", path, error);
  }
  struct stat status {};
  if (fstat(fd_, &status) < 0) {
    const int error = errno;
    close(fd_);
    fail("cannot stat", path, error);
  }
  size_bytes_ = static_cast<uint64_t>(status.st_size);
  if (!S_ISREG(status.st_mode)) {
    close(fd_);
    throw EnvironmentError(fmt::format("{} is not a data file: not a regular file", path));
  }
  if (size_bytes_ < vsr::Superblock::zone_size_bytes || size_bytes_ % sector_size != 0) {
    close(fd_);
    throw EnvironmentError(
        fmt::format("{} is not a data file: {} bytes, not at least {} in whole sectors of {}", path,
                    size_bytes_, vsr::Superblock::zone_size_bytes, sector_size));
  }
}

DataFileReader::~DataFileReader() { close(fd_); }

bool DataFileReader::read(uint64_t offset_bytes, std::span<uint8_t> out) const {
  uint64_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset_bytes + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<uint64_t>(n);
  }
  return true;
}

uint64_t copy_offset_bytes(uint32_t copy) { return uint64_t{copy} * sector_size; }

SuperblockView read_superblock(const DataFileReader& file) {
  std::vector<uint8_t> zone(vsr::Superblock::zone_size_bytes, 0);
  std::array<bool, vsr::Superblock::copies> readable{};
  for (uint32_t copy = 0; copy < vsr::Superblock::copies; copy++) {
    readable[copy] =
        file.read(copy_offset_bytes(copy),
                  std::span<uint8_t>(zone.data() + copy_offset_bytes(copy), sector_size));
    // An unreadable copy reads as garbage, never as a copy that counts.
    if (!readable[copy]) std::memset(zone.data() + copy_offset_bytes(copy), 0xff, sector_size);
  }
  SuperblockView view;
  view.winner = vsr::Superblock::inspect(
      std::span<const uint8_t, vsr::Superblock::zone_size_bytes>(zone.data(), zone.size()),
      view.copies);
  for (uint32_t copy = 0; copy < vsr::Superblock::copies; copy++) {
    if (!readable[copy]) view.copies[copy].status = vsr::Superblock::CopyStatus::unreadable;
  }
  if (!view.found()) return view;
  vsr::Config config;
  if (!vsr::recorded_layout(view.copies[view.winner].state, config).empty()) return view;
  const uint64_t expected_bytes = vsr::Layout(config).total_size_bytes;
  if (file.size_bytes() != expected_bytes) {
    throw EnvironmentError(
        fmt::format("{} is {} bytes, but the layout its superblock records takes {} bytes",
                    file.path(), file.size_bytes(), expected_bytes));
  }
  return view;
}

const char* copy_status_why(vsr::Superblock::CopyStatus status) {
  using Status = vsr::Superblock::CopyStatus;
  switch (status) {
    case Status::current:
      return "holds the newest state";
    case Status::stale:
      return "an older state than the newest copy's";
    case Status::empty:
      return "all zeros: never written";
    case Status::unreadable:
      return "the read failed";
    case Status::corrupt:
      return "bad checksum or body: torn or damaged";
    case Status::misdirected:
      return "a valid copy of another slot: a misdirected write";
    case Status::foreign:
      return "a valid copy of another cluster or replica than the newest copy names";
  }
  return "unknown";
}

std::string describe_layout(const vsr::Layout& layout) {
  return fmt::format(
      "  superblock        at {:>12}  {} copies of {} bytes\n"
      "  header ring       at {:>12}  {} sectors\n"
      "  prepare ring      at {:>12}  {} slots of {} bytes\n"
      "  checkpoint areas  at {:>12}  {} areas of {} bytes\n"
      "  end               at {:>12}\n",
      layout.superblock_offset_bytes, vsr::Superblock::copies, sector_size,
      layout.headers_offset_bytes, layout.wal_slots, layout.prepares_offset_bytes, layout.wal_slots,
      layout.prepare_slot_size_bytes, layout.checkpoints_offset_bytes, layout.checkpoint_areas,
      layout.checkpoint_area_size_bytes, layout.total_size_bytes);
}

}  // namespace keel::cli
