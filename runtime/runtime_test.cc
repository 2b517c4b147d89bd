// Tests of the runtime's loop and data file on the real kernel, each run on both backends
// (io_uring and epoll). A backend this kernel cannot start is a test failure, except io_uring
// where the kernel refuses it: the runtime falls back to epoll there, and so do these tests
// (the skip says why). CI's machines run io_uring.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime/clock.h"
#include "runtime/file_storage.h"
#include "runtime/loop.h"
#include "runtime/testing.h"

namespace keel::runtime {
namespace {

constexpr uint64_t sector = io::BlockStorage::sector_size_bytes;

// A folder of its own under TMPDIR (or /tmp), removed with everything in it.
class TempFolder {
 public:
  TempFolder() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/keel-runtime-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    const char* made = mkdtemp(buffer.data());
    EXPECT_NE(made, nullptr);
    path_ = made != nullptr ? made : "";
  }
  ~TempFolder() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class RuntimeTest : public testing::LoopTest {
 protected:
  std::unique_ptr<FileStorage> create_and_open(const std::string& path, uint64_t size_bytes) {
    EXPECT_EQ(FileStorage::create(path, size_bytes), "");
    std::string error;
    std::unique_ptr<FileStorage> storage = FileStorage::open(*loop_, path, error);
    EXPECT_NE(storage, nullptr) << error;
    return storage;
  }

  // Runs one storage call to completion.
  template <typename Start>
  io::IoStatus complete(Start start) {
    bool done = false;
    io::IoStatus status = io::IoStatus::error;
    start([&](io::IoStatus s) {
      status = s;
      done = true;
    });
    EXPECT_FALSE(done) << "a callback ran inside the call that started it";
    loop_->run_until([&] { return done; });
    EXPECT_TRUE(done);
    return status;
  }

  TempFolder folder_;
};

std::vector<uint8_t> pattern(uint64_t size_bytes, uint8_t seed) {
  std::vector<uint8_t> bytes(size_bytes);
  for (uint64_t i = 0; i < size_bytes; i++) bytes[i] = static_cast<uint8_t>(seed + i * 7);
  return bytes;
}

TEST_P(RuntimeTest, WrittenAndSyncedDataReadsBack) {
  const std::string path = folder_.file("data");
  std::unique_ptr<FileStorage> storage = create_and_open(path, 64 * sector);
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->size_bytes(), 64 * sector);
  const std::vector<uint8_t> written = pattern(3 * sector, 11);
  EXPECT_EQ(
      complete([&](io::IoCallback cb) { storage->write(5 * sector, written, std::move(cb)); }),
      io::IoStatus::ok);
  EXPECT_EQ(complete([&](io::IoCallback cb) { storage->sync(std::move(cb)); }), io::IoStatus::ok);
  std::vector<uint8_t> read(3 * sector, 0xee);
  EXPECT_EQ(complete([&](io::IoCallback cb) { storage->read(5 * sector, read, std::move(cb)); }),
            io::IoStatus::ok);
  EXPECT_EQ(read, written);
  // What was never written reads as the zeros create() allocated.
  std::vector<uint8_t> untouched(sector, 0xee);
  EXPECT_EQ(
      complete([&](io::IoCallback cb) { storage->read(63 * sector, untouched, std::move(cb)); }),
      io::IoStatus::ok);
  EXPECT_EQ(untouched, std::vector<uint8_t>(sector, 0));
}

TEST_P(RuntimeTest, ManyOperationsInFlightAllComplete) {
  const std::string path = folder_.file("data");
  std::unique_ptr<FileStorage> storage = create_and_open(path, 600 * sector);
  ASSERT_NE(storage, nullptr);
  // More than the ring's 256 entries at once: a full submission queue is flushed, not dropped.
  constexpr uint32_t writes = 600;
  std::vector<std::vector<uint8_t>> buffers;
  for (uint32_t i = 0; i < writes; i++) buffers.push_back(pattern(sector, static_cast<uint8_t>(i)));
  uint32_t ok = 0;
  for (uint32_t i = 0; i < writes; i++) {
    storage->write(i * sector, buffers[i], [&ok](io::IoStatus status) {
      if (status == io::IoStatus::ok) ok++;
    });
  }
  EXPECT_EQ(loop_->operations_in_flight(), writes);
  loop_->run_until([&] { return false; });
  EXPECT_EQ(ok, writes);
  EXPECT_EQ(loop_->operations_in_flight(), 0u);
  for (uint32_t i = 0; i < writes; i += 97) {
    std::vector<uint8_t> read(sector);
    EXPECT_EQ(complete([&](io::IoCallback cb) { storage->read(i * sector, read, std::move(cb)); }),
              io::IoStatus::ok);
    EXPECT_EQ(read, buffers[i]) << "sector " << i;
  }
}

TEST_P(RuntimeTest, ASecondOpenOfTheSameFileIsRefused) {
  const std::string path = folder_.file("data");
  std::unique_ptr<FileStorage> first = create_and_open(path, 8 * sector);
  ASSERT_NE(first, nullptr);
  std::string error;
  EXPECT_EQ(FileStorage::open(*loop_, path, error), nullptr);
  EXPECT_NE(error.find("is in use"), std::string::npos) << error;
  first.reset();  // closing releases the lock
  error.clear();
  EXPECT_NE(FileStorage::open(*loop_, path, error), nullptr) << error;
}

TEST_P(RuntimeTest, AnotherProcessIsRefusedTheLockUntilItsHolderDies) {
  const std::string path = folder_.file("data");
  ASSERT_EQ(FileStorage::create(path, 8 * sector), "");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child holds the file until it is killed.
    std::string error;
    std::unique_ptr<Loop> loop = Loop::create(Backend::epoll, error);
    std::unique_ptr<FileStorage> held = FileStorage::open(*loop, path, error);
    const char byte = held != nullptr ? 'y' : 'n';
    (void)!::write(ready[1], &byte, 1);
    pause();
    _exit(0);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ASSERT_EQ(byte, 'y');
  std::string error;
  EXPECT_EQ(FileStorage::open(*loop_, path, error), nullptr);
  EXPECT_NE(error.find("is in use"), std::string::npos) << error;
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  error.clear();
  EXPECT_NE(FileStorage::open(*loop_, path, error), nullptr) << error;
}

TEST_P(RuntimeTest, CreateRefusesAnExistingFileAndBadSizes) {
  const std::string path = folder_.file("data");
  ASSERT_EQ(FileStorage::create(path, 8 * sector), "");
  EXPECT_NE(FileStorage::create(path, 8 * sector).find("already exists"), std::string::npos);
  EXPECT_NE(FileStorage::create(folder_.file("odd"), sector + 1), "");
  EXPECT_NE(FileStorage::create(folder_.file("empty"), 0), "");
  EXPECT_NE(FileStorage::create(folder_.file("missing/data"), sector), "");
  std::string error;
  EXPECT_EQ(FileStorage::open(*loop_, folder_.file("absent"), error), nullptr);
  EXPECT_NE(error.find("absent"), std::string::npos) << error;
}

// A fallocated block the file system still marks unwritten costs its first WAL write a metadata
// journal commit: create() writes every byte, and progress reports each chunk up to the size.
TEST_P(RuntimeTest, CreateWritesEveryBlockAndReportsProgress) {
  const std::string path = folder_.file("data");
  const uint64_t size_bytes = 20ull << 20;  // more than one chunk of zeros
  std::vector<uint64_t> reported;
  ASSERT_EQ(FileStorage::create(path, size_bytes,
                                [&](uint64_t written_bytes, uint64_t total_bytes) {
                                  EXPECT_EQ(total_bytes, size_bytes);
                                  reported.push_back(written_bytes);
                                }),
            "");
  ASSERT_GE(reported.size(), 2u);
  for (size_t i = 1; i < reported.size(); i++) EXPECT_GT(reported[i], reported[i - 1]);
  EXPECT_EQ(reported.back(), size_bytes);

  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  constexpr uint32_t extents_max = 64;
  std::vector<uint8_t> request(sizeof(fiemap) + extents_max * sizeof(fiemap_extent));
  auto* map = reinterpret_cast<fiemap*>(request.data());
  map->fm_length = size_bytes;
  map->fm_flags = FIEMAP_FLAG_SYNC;
  map->fm_extent_count = extents_max;
  const int mapped = ioctl(fd, FS_IOC_FIEMAP, map);
  const int map_error = errno;
  close(fd);
  if (mapped < 0 && map_error == EOPNOTSUPP) {
    GTEST_SKIP() << "this file system (TMPDIR) has no extent map to check";
  }
  ASSERT_EQ(mapped, 0) << std::strerror(map_error);
  ASSERT_GT(map->fm_mapped_extents, 0u);
  uint64_t mapped_bytes = 0;
  for (uint32_t i = 0; i < map->fm_mapped_extents; i++) {
    EXPECT_EQ(map->fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN, 0u) << "extent " << i;
    mapped_bytes += map->fm_extents[i].fe_length;
  }
  EXPECT_EQ(mapped_bytes, size_bytes);
}

TEST_P(RuntimeTest, AFileOfTheWrongShapeIsNotADataFile) {
  const std::string path = folder_.file("odd");
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "abc", 3), 3);
  close(fd);
  std::string error;
  EXPECT_EQ(FileStorage::open(*loop_, path, error), nullptr);
  EXPECT_NE(error.find("not a data file"), std::string::npos) << error;
}

// tmpfs refuses O_DIRECT on kernels before 6.6: there the file is used through the page cache,
// and direct() says so; newer kernels accept it. Either way the data file works.
TEST_P(RuntimeTest, TmpfsWorksWithOrWithoutDirectIo) {
  struct stat shm {};
  if (stat("/dev/shm", &shm) != 0 || !S_ISDIR(shm.st_mode)) GTEST_SKIP() << "no /dev/shm";
  const std::string path = "/dev/shm/keel-runtime-test-" + std::to_string(getpid());
  unlink(path.c_str());
  ASSERT_EQ(FileStorage::create(path, 4 * sector), "");
  std::string error;
  std::unique_ptr<FileStorage> storage = FileStorage::open(*loop_, path, error);
  ASSERT_NE(storage, nullptr) << error;
  const int probe = ::open(path.c_str(), O_RDWR | O_DIRECT);
  const bool kernel_allows_direct = probe >= 0;
  if (probe >= 0) close(probe);
  EXPECT_EQ(storage->direct(), kernel_allows_direct);
  const std::vector<uint8_t> written = pattern(sector, 3);
  EXPECT_EQ(complete([&](io::IoCallback cb) { storage->write(sector, written, std::move(cb)); }),
            io::IoStatus::ok);
  EXPECT_EQ(complete([&](io::IoCallback cb) { storage->sync(std::move(cb)); }), io::IoStatus::ok);
  std::vector<uint8_t> read(sector);
  EXPECT_EQ(complete([&](io::IoCallback cb) { storage->read(sector, read, std::move(cb)); }),
            io::IoStatus::ok);
  EXPECT_EQ(read, written);
  storage.reset();
  unlink(path.c_str());
}

TEST_P(RuntimeTest, TimersFireInDeadlineOrderAndCancelledOnesNever) {
  std::vector<int> fired;
  const uint64_t start = Loop::monotonic_ns();
  loop_->start_timer(3 * io::ns_per_ms, [&] { fired.push_back(3); });
  const io::TimerId cancelled = loop_->start_timer(2 * io::ns_per_ms, [&] { fired.push_back(2); });
  loop_->start_timer(1 * io::ns_per_ms, [&] { fired.push_back(1); });
  bool zero_fired = false;
  loop_->start_timer(0, [&] { zero_fired = true; });
  EXPECT_FALSE(zero_fired) << "a timer of delay 0 ran inside start_timer";
  EXPECT_TRUE(loop_->cancel_timer(cancelled));
  EXPECT_FALSE(loop_->cancel_timer(cancelled));
  loop_->run_until([&] { return false; });
  EXPECT_TRUE(zero_fired);
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
  EXPECT_GE(Loop::monotonic_ns() - start, 3 * io::ns_per_ms);
  EXPECT_EQ(loop_->timers_pending(), 0u);
}

TEST_P(RuntimeTest, ATimerStartedByATimerFiresOnALaterTurn) {
  int turns_fired = 0;
  loop_->start_timer(0, [&] {
    turns_fired++;
    loop_->start_timer(0, [&] { turns_fired++; });
  });
  for (int turn = 0; turn < 1000 && turns_fired == 0; turn++) loop_->run_once(io::ns_per_ms);
  EXPECT_EQ(turns_fired, 1) << "a timer started by a timer fired in the same turn";
  loop_->run_until([&] { return false; });
  EXPECT_EQ(turns_fired, 2);
}

TEST(RuntimeClock, MonotonicNeverGoesBackAndRealtimeIsNow) {
  SystemClock clock;
  uint64_t last = clock.monotonic_ns();
  for (int i = 0; i < 1000; i++) {
    const uint64_t now = clock.monotonic_ns();
    EXPECT_GE(now, last);
    last = now;
  }
  // After 2026-01-01 and before 2100: a real wall clock, in nanoseconds.
  EXPECT_GT(clock.realtime_ns(), 1'767'225'600'000'000'000);
  EXPECT_LT(clock.realtime_ns(), 4'102'444'800'000'000'000);
}

TEST(RuntimeLoop, PreferredBackendSaysWhichRuns) {
  std::string why;
  std::unique_ptr<Loop> loop = Loop::create_preferred(why);
  ASSERT_NE(loop, nullptr) << why;
  EXPECT_NE(why.find(backend_name(loop->backend())), std::string::npos) << why;
}

INSTANTIATE_TEST_SUITE_P(Backends, RuntimeTest, ::testing::Values(Backend::uring, Backend::epoll),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return std::string(backend_name(info.param));
                         });

}  // namespace
}  // namespace keel::runtime
