#include "runtime/file_storage.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "io/assert.h"

namespace keel::runtime {

namespace {

std::string describe(const std::string& what, const std::string& path, int error) {
  return what + " " + path + ": " + std::strerror(error);
}

// Sector-aligned memory for O_DIRECT transfers, freed when the operation completes.
struct AlignedBuffer {
  explicit AlignedBuffer(uint64_t size_bytes)
      : data(static_cast<uint8_t*>(
            std::aligned_alloc(io::BlockStorage::sector_size_bytes, size_bytes))),
        size(size_bytes) {
    KEEL_ASSERT(data != nullptr);
  }
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  uint8_t* const data;
  const uint64_t size;
};

// Makes a new folder entry durable: without it a crash may forget that the file exists.
int sync_parent_folder(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "."
                             : slash == 0               ? "/"
                                                        : path.substr(0, slash);
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int result = fsync(fd);
  const int error = result < 0 ? errno : 0;
  close(fd);
  return error;
}

constexpr uint64_t zero_chunk_bytes = 8 << 20;

// Writes zeros over [0, size_bytes) of fd: 0 or the errno.
int write_zeros(int fd, uint64_t size_bytes, const FileStorage::Progress& progress) {
  AlignedBuffer zeros(zero_chunk_bytes);
  std::memset(zeros.data, 0, zeros.size);
  uint64_t written_bytes = 0;
  while (written_bytes < size_bytes) {
    const uint64_t chunk_bytes = std::min(zero_chunk_bytes, size_bytes - written_bytes);
    const ssize_t result = pwrite(fd, zeros.data, chunk_bytes, static_cast<off_t>(written_bytes));
    if (result < 0 && errno == EINTR) continue;
    if (result < 0) return errno;
    if (result == 0) return EIO;  // no progress: the device refuses
    written_bytes += static_cast<uint64_t>(result);
    if (progress) progress(written_bytes, size_bytes);
  }
  KEEL_ASSERT(written_bytes == size_bytes);
  return 0;
}

}  // namespace

std::string FileStorage::create(const std::string& path, uint64_t size_bytes,
                                const Progress& progress) {
  if (size_bytes == 0 || !aligned(0, size_bytes)) {
    return "the data file size must be a positive multiple of " +
           std::to_string(sector_size_bytes) + " bytes";
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return path + " already exists: refusing to overwrite it";
    return describe("cannot create", path, errno);
  }
  int error = 0;
  if (fallocate(fd, 0, 0, static_cast<off_t>(size_bytes)) < 0) error = errno;
  // O_DIRECT keeps gigabytes of zeros out of the page cache; tmpfs refuses it, and needs none.
  const int flags = fcntl(fd, F_GETFL);
  if (error == 0 && flags >= 0) (void)fcntl(fd, F_SETFL, flags | O_DIRECT);
  if (error == 0) error = write_zeros(fd, size_bytes, progress);
  if (error == 0 && fsync(fd) < 0) error = errno;
  close(fd);
  if (error == 0) error = sync_parent_folder(path);
  if (error != 0) {
    unlink(path.c_str());
    return describe("cannot allocate", path, error);
  }
  return "";
}

std::unique_ptr<FileStorage> FileStorage::open(Loop& loop, const std::string& path,
                                               std::string& error) {
  bool direct = true;
  int fd = ::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
  if (fd < 0 && errno == EINVAL) {
    direct = false;  // the file system has no O_DIRECT (tmpfs)
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  if (fd < 0) {
    error = describe("cannot open", path, errno);
    return nullptr;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    const int lock_error = errno;
    close(fd);
    error = lock_error == EWOULDBLOCK
                ? path + " is in use: another process (or this one) holds its lock"
                : describe("cannot lock", path, lock_error);
    return nullptr;
  }
  struct stat status {};
  if (fstat(fd, &status) < 0) {
    error = describe("cannot stat", path, errno);
    close(fd);
    return nullptr;
  }
  const auto size_bytes = static_cast<uint64_t>(status.st_size);
  if (!S_ISREG(status.st_mode) || size_bytes == 0 || !aligned(0, size_bytes)) {
    close(fd);
    error = path + " is not a data file (a regular file whose size is a positive multiple of " +
            std::to_string(sector_size_bytes) + " bytes)";
    return nullptr;
  }
  return std::unique_ptr<FileStorage>(new FileStorage(loop, path, fd, size_bytes, direct));
}

FileStorage::FileStorage(Loop& loop, std::string path, int fd, uint64_t size_bytes, bool direct)
    : loop_(loop), path_(std::move(path)), fd_(fd), size_bytes_(size_bytes), direct_(direct) {
  KEEL_ASSERT(fd_ >= 0);
}

// Closing drops the lock. Operations still in flight would write into freed memory: the owner
// drains the loop first.
FileStorage::~FileStorage() { close(fd_); }

void FileStorage::check_range(uint64_t offset_bytes, uint64_t size_bytes) const {
  KEEL_ASSERT(aligned(offset_bytes, size_bytes));
  KEEL_ASSERT(size_bytes > 0 && size_bytes <= transfer_size_bytes_max);
  KEEL_ASSERT(offset_bytes <= size_bytes_ && size_bytes <= size_bytes_ - offset_bytes);
}

void FileStorage::read(uint64_t offset_bytes, std::span<uint8_t> buffer, io::IoCallback callback) {
  check_range(offset_bytes, buffer.size());
  auto bounce = std::make_shared<AlignedBuffer>(buffer.size());
  loop_.read(fd_, offset_bytes, std::span<uint8_t>(bounce->data, bounce->size),
             [bounce, buffer, callback = std::move(callback)](int64_t result) mutable {
               const bool ok = result == static_cast<int64_t>(buffer.size());
               if (ok) std::memcpy(buffer.data(), bounce->data, buffer.size());
               callback(ok ? io::IoStatus::ok : io::IoStatus::error);
             });
}

void FileStorage::write(uint64_t offset_bytes, std::span<const uint8_t> buffer,
                        io::IoCallback callback) {
  check_range(offset_bytes, buffer.size());
  auto bounce = std::make_shared<AlignedBuffer>(buffer.size());
  std::memcpy(bounce->data, buffer.data(), buffer.size());
  const uint64_t size = buffer.size();
  loop_.write(
      fd_, offset_bytes, std::span<const uint8_t>(bounce->data, bounce->size),
      [bounce, size, callback = std::move(callback)](int64_t result) mutable {
        callback(result == static_cast<int64_t>(size) ? io::IoStatus::ok : io::IoStatus::error);
      });
}

void FileStorage::sync(io::IoCallback callback) {
  loop_.datasync(fd_, [callback = std::move(callback)](int64_t result) mutable {
    callback(result == 0 ? io::IoStatus::ok : io::IoStatus::error);
  });
}

}  // namespace keel::runtime
