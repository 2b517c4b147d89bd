#pragma once
// io::BlockStorage on one preallocated data file (docs/runtime.md, "Durability contract").
//
// - The file is opened with O_DIRECT where the file system allows it (buffers are copied into
//   sector-aligned memory); where it refuses (tmpfs), buffered I/O is used and direct() says so.
//   Either way a write is durable only after a sync: sync is fdatasync(2), issued when the call
//   is made, so it covers exactly the writes that completed before it, as the contract says.
// - An exclusive flock(2) is held while the file is open: a second process (or a second
//   FileStorage in this one) is refused.
// - A device error, or a short transfer, completes with IoStatus::error.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "io/storage.h"
#include "runtime/loop.h"

namespace keel::runtime {

class FileStorage final : public io::BlockStorage {
 public:
  // The largest single read or write: the largest message or checkpoint chunk fits many times.
  static constexpr uint64_t transfer_size_bytes_max = 64 * 1024 * 1024;

  // Creates path with size_bytes of zeros on the disk, durably (the file and its folder entry are
  // synced). The space is reserved first (fallocate: a full disk fails at once), then every
  // byte is written: a reserved but unwritten block costs its first write a metadata journal
  // commit on ext4 and XFS, and the WAL ran about 15% slower until it had wrapped once.
  // progress(written_bytes, size_bytes) follows each chunk written. Refuses an existing path.
  // Returns an empty string or the error.
  using Progress = std::function<void(uint64_t written_bytes, uint64_t size_bytes)>;
  static std::string create(const std::string& path, uint64_t size_bytes,
                            const Progress& progress = {});

  // Opens an existing data file for this process alone; nullptr with error set if it cannot.
  static std::unique_ptr<FileStorage> open(Loop& loop, const std::string& path, std::string& error);

  ~FileStorage() override;
  FileStorage(const FileStorage&) = delete;
  FileStorage& operator=(const FileStorage&) = delete;

  uint64_t size_bytes() const override { return size_bytes_; }
  void read(uint64_t offset_bytes, std::span<uint8_t> buffer, io::IoCallback callback) override;
  void write(uint64_t offset_bytes, std::span<const uint8_t> buffer,
             io::IoCallback callback) override;
  void sync(io::IoCallback callback) override;

  // False where the file system refused O_DIRECT and the page cache sits in between.
  bool direct() const { return direct_; }
  const std::string& path() const { return path_; }

 private:
  FileStorage(Loop& loop, std::string path, int fd, uint64_t size_bytes, bool direct);
  void check_range(uint64_t offset_bytes, uint64_t size_bytes) const;

  Loop& loop_;
  const std::string path_;
  const int fd_;
  const uint64_t size_bytes_;
  const bool direct_;
};

}  // namespace keel::runtime
