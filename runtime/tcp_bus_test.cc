// The TCP message bus on real loopback sockets, on both loop backends: replicas talk, clients get
// replies on their own connections, garbage and foreign frames close only the connection they
// came on, and a restarted peer is dialed again.

#include "runtime/tcp_bus.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <vector>

#include "io/frame.h"
#include "runtime/testing.h"

namespace keel::runtime {
namespace {

constexpr uint64_t cluster = 7;
constexpr uint64_t wait_ms_max = 10'000;

struct Received {
  io::NodeId from;
  uint16_t kind;
  std::string body;
};

class TcpBusTest : public testing::LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    addresses_ = testing::free_loopback_addresses(3);
  }

  void TearDown() override {
    for (auto& bus : buses_) {
      if (bus != nullptr) bus->stop();
    }
    run_until([&] {
      for (auto& bus : buses_) {
        if (bus != nullptr && !bus->idle()) return false;
      }
      return true;
    });
  }

  TcpBus& start(io::NodeId self) {
    TcpBusOptions options;
    options.cluster_id = cluster;
    options.self = self;
    options.replica_addresses = addresses_;
    std::string error;
    buses_.push_back(TcpBus::create(*loop_, options, self + 1, error));
    EXPECT_NE(buses_.back(), nullptr) << error;
    inboxes_.emplace_back();
    auto* inbox = &inboxes_.back();
    buses_.back()->set_receiver(
        [inbox](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
          inbox->push_back(Received{from, kind, std::string(body.begin(), body.end())});
        });
    return *buses_.back();
  }

  template <typename Done>
  bool run_until(Done done) {
    const uint64_t deadline = Loop::monotonic_ns() + wait_ms_max * io::ns_per_ms;
    while (!done()) {
      if (Loop::monotonic_ns() > deadline) return false;
      loop_->run_once(10 * io::ns_per_ms);
    }
    return true;
  }

  static std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
  }

  // Sends until the peer has it: the first sends may go before the connection is up.
  bool send_until_received(TcpBus& bus, io::NodeId to, size_t inbox, const std::string& text) {
    const uint64_t deadline = Loop::monotonic_ns() + wait_ms_max * io::ns_per_ms;
    while (Loop::monotonic_ns() < deadline) {
      bus.send(to, 1, bytes(text));
      const uint64_t until = Loop::monotonic_ns() + 50 * io::ns_per_ms;
      while (Loop::monotonic_ns() < until) {
        loop_->run_once(5 * io::ns_per_ms);
        for (const Received& received : inboxes_[inbox]) {
          if (received.body == text) return true;
        }
      }
    }
    return false;
  }

  int raw_connect(io::NodeId replica) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(
        connect(fd, reinterpret_cast<const sockaddr*>(&addresses_[replica]), sizeof(sockaddr_in)),
        0);
    return fd;
  }

  std::vector<sockaddr_in> addresses_;
  std::vector<std::unique_ptr<TcpBus>> buses_;
  std::deque<std::vector<Received>> inboxes_;
};

TEST_P(TcpBusTest, ReplicasExchangeMessagesAndSelfSendsArrive) {
  TcpBus& zero = start(0);
  TcpBus& one = start(1);
  ASSERT_TRUE(send_until_received(zero, 1, 1, "zero to one"));
  ASSERT_TRUE(send_until_received(one, 0, 0, "one to zero"));
  EXPECT_EQ(inboxes_[1].back().from, 0u);
  EXPECT_EQ(inboxes_[0].back().from, 1u);
  ASSERT_TRUE(send_until_received(zero, 0, 0, "zero to itself"));
  EXPECT_EQ(inboxes_[0].back().from, 0u);
  EXPECT_EQ(zero.counters().frames_bad, 0u);
}

TEST_P(TcpBusTest, ClientGetsRepliesOnItsOwnConnection) {
  TcpBus& replica = start(0);
  TcpBus& client = start(3);  // at or above replica_count: a client
  ASSERT_TRUE(send_until_received(client, 0, 0, "request"));
  const io::NodeId client_node = inboxes_[0].back().from;
  EXPECT_GE(client_node, 3u);
  ASSERT_TRUE(send_until_received(replica, client_node, 1, "reply"));
  EXPECT_EQ(inboxes_[1].back().from, 0u);
  // A node id no connection has is dropped, not delivered elsewhere.
  const uint64_t dropped = replica.counters().messages_dropped;
  replica.send(client_node + 1, 1, bytes("nobody"));
  EXPECT_EQ(replica.counters().messages_dropped, dropped + 1);
}

TEST_P(TcpBusTest, GarbageAndForeignFramesCloseOnlyTheirConnection) {
  TcpBus& zero = start(0);
  TcpBus& one = start(1);
  ASSERT_TRUE(send_until_received(one, 0, 0, "before"));

  const int garbage = raw_connect(0);
  std::vector<uint8_t> noise(4096);
  for (size_t i = 0; i < noise.size(); i++) noise[i] = static_cast<uint8_t>(i * 131 + 7);
  ASSERT_EQ(write(garbage, noise.data(), noise.size()), static_cast<ssize_t>(noise.size()));
  ASSERT_TRUE(run_until([&] { return zero.counters().frames_bad >= 1; }));

  // A well-formed frame of another cluster is refused the same way.
  const int foreign = raw_connect(0);
  std::vector<uint8_t> frame;
  const uint8_t hello[4] = {2, 0, 0, 0};
  io::encode_frame(cluster + 1, 0xffff, hello, frame);
  ASSERT_EQ(write(foreign, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  ASSERT_TRUE(run_until([&] { return zero.counters().frames_bad >= 2; }));

  // A frame before any hello is refused too: an accepted connection must say who it is.
  const int anonymous = raw_connect(0);
  frame.clear();
  io::encode_frame(cluster, 1, bytes("who am I"), frame);
  ASSERT_EQ(write(anonymous, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  ASSERT_TRUE(run_until([&] { return zero.counters().frames_bad >= 3; }));
  for (int fd : {garbage, foreign, anonymous}) close(fd);

  for (const Received& received : inboxes_[0]) EXPECT_NE(received.body, "who am I");
  ASSERT_TRUE(send_until_received(one, 0, 0, "after"));
}

TEST_P(TcpBusTest, RestartedPeerIsDialedAgain) {
  TcpBus& zero = start(0);
  start(1);
  ASSERT_TRUE(send_until_received(zero, 1, 1, "first"));
  buses_[1]->stop();
  ASSERT_TRUE(run_until([&] { return buses_[1]->idle(); }));
  buses_[1].reset();
  ASSERT_TRUE(run_until([&] { return zero.peers_connected() == 0; }));

  TcpBusOptions options;
  options.cluster_id = cluster;
  options.self = 1;
  options.replica_addresses = addresses_;
  std::string error;
  buses_[1] = TcpBus::create(*loop_, options, 99, error);
  ASSERT_NE(buses_[1], nullptr) << error;
  auto* inbox = &inboxes_[1];
  inbox->clear();
  buses_[1]->set_receiver([inbox](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
    inbox->push_back(Received{from, kind, std::string(body.begin(), body.end())});
  });
  ASSERT_TRUE(send_until_received(zero, 1, 1, "again"));
  EXPECT_GE(zero.counters().connections_lost + zero.counters().connects_failed, 1u);
}

TEST_P(TcpBusTest, LargeMessagesArriveWhole) {
  TcpBus& zero = start(0);
  start(1);
  ASSERT_TRUE(send_until_received(zero, 1, 1, "warm up"));
  std::string big(io::frame_body_size_bytes_max, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i / 4096 % 26);
  for (int i = 0; i < 4; i++) zero.send(1, 2, bytes(big));
  ASSERT_TRUE(run_until([&] { return inboxes_[1].size() >= 5; }));
  for (size_t i = inboxes_[1].size() - 4; i < inboxes_[1].size(); i++) {
    EXPECT_EQ(inboxes_[1][i].body, big);
  }
}

TEST_P(TcpBusTest, ListeningOnATakenPortIsAClearError) {
  start(0);
  TcpBusOptions options;
  options.cluster_id = cluster;
  options.self = 0;
  options.replica_addresses = addresses_;
  std::string error;
  EXPECT_EQ(TcpBus::create(*loop_, options, 5, error), nullptr);
  EXPECT_NE(error.find("cannot listen on 127.0.0.1:"), std::string::npos) << error;
}

INSTANTIATE_TEST_SUITE_P(Backends, TcpBusTest, ::testing::Values(Backend::uring, Backend::epoll),
                         [](const auto& info) { return std::string(backend_name(info.param)); });

}  // namespace
}  // namespace keel::runtime
