#pragma once
// What `keel format` and the offline data-file tools share: where the file is, reading it
// synchronously (never writing), its superblock, and describing its layout.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/vsr/header.h"
#include "core/vsr/superblock.h"
#include "tools/cli/args.h"

namespace keel::cli {

// The file name inside a --data-dir folder.
inline constexpr const char* data_file_name = "keel.data";

// Takes a data file argument if arg is one: "--data-dir DIR" (DIR/keel.data) or a path. False
// if arg is something else. A second data file argument is a UsageError.
bool take_data_file_arg(ArgReader& reader, const std::string& arg, std::string& path);
// The data file of a command that takes nothing else.
std::string data_file_only(const std::vector<std::string>& args);

// An existing data file opened read-only, under a shared lock so that a running replica (which
// holds an exclusive one) is never read behind its back. Any failure is an EnvironmentError.
class DataFileReader {
 public:
  explicit DataFileReader(const std::string& path);
  ~DataFileReader();
  DataFileReader(const DataFileReader&) = delete;
  DataFileReader& operator=(const DataFileReader&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size_bytes() const { return size_bytes_; }
  // False if the device failed or the file ended early.
  bool read(uint64_t offset_bytes, std::span<uint8_t> out) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_bytes_ = 0;
};

// The superblock zone, decoded as a replica would (the owner named by the newest copy).
struct SuperblockView {
  std::array<vsr::Superblock::Copy, vsr::Superblock::copies> copies;
  uint32_t winner = vsr::Superblock::copies;  // copies: no copy counts
  bool found() const { return winner < vsr::Superblock::copies; }
};

// Reads the zone; a copy whose sector cannot be read is unreadable. Where a copy counts and
// records a layout, a file of another size is an EnvironmentError.
SuperblockView read_superblock(const DataFileReader& file);
uint64_t copy_offset_bytes(uint32_t copy);
// Why a copy with this status does not count (or is not current).
const char* copy_status_why(vsr::Superblock::CopyStatus status);

// Lines describing where each zone of a layout lies.
std::string describe_layout(const vsr::Layout& layout);

}  // namespace keel::cli
