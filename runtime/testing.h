#pragma once
// Helpers shared by the runtime's tests.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/loop.h"

namespace keel::runtime::testing {

// Loopback ports the kernel just handed out (bound, then released): free unless another process
// races for them.
inline std::vector<sockaddr_in> free_loopback_addresses(size_t count) {
  std::vector<sockaddr_in> addresses;
  std::vector<int> fds;
  for (size_t i = 0; i < count; i++) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    socklen_t length = sizeof(address);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    addresses.push_back(address);
    fds.push_back(fd);
  }
  for (const int fd : fds) close(fd);
  return addresses;
}

// A test run on each loop backend. A backend this kernel cannot start fails the test, except
// io_uring where the kernel refuses it: the runtime falls back to epoll there, and the test is
// skipped with the reason.
class LoopTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string error;
    loop_ = Loop::create(GetParam(), error);
    if (loop_ == nullptr && GetParam() == Backend::uring) {
      GTEST_SKIP() << "io_uring unavailable here (" << error << "); the runtime uses epoll";
    }
    ASSERT_NE(loop_, nullptr) << error;
    ASSERT_EQ(loop_->backend(), GetParam());
  }

  std::unique_ptr<Loop> loop_;
};

}  // namespace keel::runtime::testing
