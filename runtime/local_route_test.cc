// The local route: a replica and its own process's sessions exchange messages in-process, on a
// later loop turn; everything else still goes by the network buses; a closed session's replies
// and an overfull queue are dropped and counted, never delivered elsewhere.

#include "runtime/local_route.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/testing.h"

namespace keel::runtime {
namespace {

constexpr io::NodeId replica = 1;

struct Message {
  io::NodeId peer;  // to, for a send; from, for a receive
  uint16_t kind;
  std::string body;
  bool operator==(const Message&) const = default;
};

// A network bus that records what is sent on it and lets the test deliver to its receiver.
class RecordingBus final : public io::MessageBus {
 public:
  explicit RecordingBus(io::NodeId self) : self_(self) {}
  io::NodeId self() const override { return self_; }
  void send(io::NodeId to, uint16_t kind, std::span<const uint8_t> body) override {
    sent.push_back(Message{to, kind, std::string(body.begin(), body.end())});
  }
  void set_receiver(Receiver receiver) override { receiver_ = std::move(receiver); }
  bool has_receiver() const { return static_cast<bool>(receiver_); }
  void arrive(io::NodeId from, uint16_t kind, const std::string& body) {
    receiver_(from, kind, std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
  }

  std::vector<Message> sent;

 private:
  const io::NodeId self_;
  Receiver receiver_;
};

std::span<const uint8_t> bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

void record_into(io::MessageBus& bus, std::vector<Message>& inbox) {
  bus.set_receiver([&inbox](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
    inbox.push_back(Message{from, kind, std::string(body.begin(), body.end())});
  });
}

class LocalRouteTest : public testing::LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    route_ = std::make_unique<LocalRoute>(*loop_, network_, replica);
    record_into(route_->replica_bus(), replica_inbox_);
  }
  void TearDown() override { route_.reset(); }

  void run_turns() {
    while (loop_->timers_pending() > 0) loop_->run_once(0);
  }

  RecordingBus network_{replica};
  RecordingBus session_network_{3};
  std::unique_ptr<LocalRoute> route_;
  std::vector<Message> replica_inbox_;
};

TEST_P(LocalRouteTest, SessionAndReplicaTalkInProcessOnALaterTurn) {
  std::vector<Message> session_inbox;
  {
    auto session = route_->session_bus(session_network_);
    record_into(*session, session_inbox);
    EXPECT_GE(session->self(), LocalRoute::client_node_first);

    session->send(replica, 7, bytes("request"));
    EXPECT_TRUE(replica_inbox_.empty());  // not within send: on a later turn
    run_turns();
    ASSERT_EQ(replica_inbox_.size(), 1u);
    EXPECT_EQ(replica_inbox_[0], (Message{session->self(), 7, "request"}));

    route_->replica_bus().send(session->self(), 8, bytes("reply"));
    run_turns();
    ASSERT_EQ(session_inbox.size(), 1u);
    EXPECT_EQ(session_inbox[0], (Message{replica, 8, "reply"}));
    EXPECT_TRUE(network_.sent.empty());
    EXPECT_TRUE(session_network_.sent.empty());
    EXPECT_EQ(route_->counters().messages_delivered, 2u);
  }
  EXPECT_FALSE(session_network_.has_receiver());
}

TEST_P(LocalRouteTest, EverythingElseGoesByTheNetwork) {
  std::vector<Message> session_inbox;
  auto session = route_->session_bus(session_network_);
  record_into(*session, session_inbox);

  // The replica to another replica and to a remote client; a session to another replica.
  route_->replica_bus().send(0, 1, bytes("prepare"));
  route_->replica_bus().send(5, 2, bytes("remote reply"));
  session->send(2, 3, bytes("request to 2"));
  EXPECT_EQ(network_.sent, (std::vector<Message>{{0, 1, "prepare"}, {5, 2, "remote reply"}}));
  EXPECT_EQ(session_network_.sent, (std::vector<Message>{{2, 3, "request to 2"}}));

  // And what the networks deliver reaches the right receivers, at once.
  network_.arrive(0, 4, "prepare_ok");
  session_network_.arrive(2, 5, "reply from 2");
  EXPECT_EQ(replica_inbox_, (std::vector<Message>{{0, 4, "prepare_ok"}}));
  EXPECT_EQ(session_inbox, (std::vector<Message>{{2, 5, "reply from 2"}}));
  run_turns();
  EXPECT_EQ(route_->counters().messages_delivered, 0u);
}

TEST_P(LocalRouteTest, ReplyToAClosedSessionIsDroppedNotDeliveredElsewhere) {
  RecordingBus second_network(3);
  auto first = route_->session_bus(session_network_);
  auto second = route_->session_bus(second_network);
  std::vector<Message> second_inbox;
  record_into(*second, second_inbox);
  EXPECT_NE(first->self(), second->self());
  const io::NodeId closed = first->self();

  route_->replica_bus().send(closed, 8, bytes("late reply"));
  first.reset();  // closes before the reply's turn
  run_turns();
  EXPECT_TRUE(second_inbox.empty());
  EXPECT_EQ(route_->counters().messages_dropped, 1u);
  EXPECT_EQ(route_->counters().messages_delivered, 0u);

  // A new session never gets the closed one's id.
  auto third = route_->session_bus(session_network_);
  EXPECT_NE(third->self(), closed);
}

TEST_P(LocalRouteTest, AFullQueueDropsAndCounts) {
  auto session = route_->session_bus(session_network_);

  const std::string big(1 << 20, 'x');
  const uint64_t fits = LocalRoute::queue_size_bytes_max / big.size();
  for (uint64_t i = 0; i < fits + 3; i++) session->send(replica, 1, bytes(big));
  EXPECT_EQ(route_->queued(), fits);
  EXPECT_EQ(route_->counters().messages_dropped, 3u);
  run_turns();
  EXPECT_EQ(replica_inbox_.size(), fits);
  // Delivered messages free their room.
  session->send(replica, 1, bytes(big));
  EXPECT_EQ(route_->queued(), 1u);
  run_turns();
}

INSTANTIATE_TEST_SUITE_P(Backends, LocalRouteTest,
                         ::testing::Values(Backend::uring, Backend::epoll),
                         [](const auto& info) { return std::string(backend_name(info.param)); });

}  // namespace
}  // namespace keel::runtime
