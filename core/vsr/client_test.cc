// The VSR client against fake replicas on simulated nodes: registration, retries to every
// replica, time-outs, evictions, stale replies and the view hint. The fakes answer at once (no
// log, no quorum): only the client's side of the protocol is under test here.

#include "core/vsr/client.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/vsr/messages.pb.h"
#include "core/vsr/wire.h"
#include "sim/network.h"
#include "sim/node.h"
#include "sim/world.h"

namespace keel::vsr {
namespace {

constexpr uint64_t ms = io::ns_per_ms;
constexpr uint32_t replica_count = 3;
constexpr io::NodeId client_node = replica_count;
constexpr uint64_t client_id = 42;

// A replica that answers every request at once, as its mode says.
struct FakeReplica {
  enum class Mode { answer, drop, evict, unknown_session, stale };

  io::NodeId id = 0;
  Mode mode = Mode::answer;
  uint64_t view = 0;         // put in every reply
  uint64_t register_op = 7;  // the session a REGISTER gets
  uint64_t op_next = 100;    // the op of the next answered request
  bool duplicate = false;    // answer twice
  std::vector<proto::Request> received;

  void on_request(sim::SimNode& node, io::NodeId from, std::span<const uint8_t> body) {
    proto::Request request;
    ASSERT_TRUE(parse_message(body, request));
    received.push_back(request);
    if (mode == Mode::drop) return;
    proto::Reply reply;
    reply.set_client(request.client());
    reply.set_session(request.session());
    reply.set_request(request.request());
    reply.set_view(view);
    reply.set_replica(id);
    if (request.register_()) {
      reply.set_op(register_op);
      reply.set_session(register_op);
      reply.set_status(proto::OK);
    } else if (mode == Mode::evict) {
      reply.set_status(proto::SESSION_EVICTED);
    } else if (mode == Mode::unknown_session) {
      reply.set_status(proto::SESSION_UNKNOWN);
    } else if (mode == Mode::stale) {
      reply.set_status(proto::REQUEST_STALE);
    } else {
      reply.set_op(op_next++);
      reply.set_status(proto::OK);
      reply.set_result("result:" + request.command());
    }
    for (int copy = 0; copy < (duplicate ? 2 : 1); copy++) {
      io::send_message(node, from, static_cast<uint16_t>(Kind::reply), reply);
    }
  }

  // Requests (not registrations) received with this command.
  size_t received_command(const std::string& command) const {
    size_t count = 0;
    for (const proto::Request& request : received) {
      count += !request.register_() && request.command() == command;
    }
    return count;
  }
  size_t received_registers() const {
    size_t count = 0;
    for (const proto::Request& request : received) count += request.register_();
    return count;
  }
};

struct Rig {
  explicit Rig(uint64_t seed) : world(seed, replica_count, trace) {
    profile.latency_min_ns = 1 * ms;
    profile.latency_tail_mean_ns = 0;
    network = std::make_unique<sim::SimNetwork>(world, replica_count + 1, profile);
    std::vector<sim::SimNode*> attached;
    for (io::NodeId id = 0; id <= replica_count; id++) {
      nodes.push_back(
          std::make_unique<sim::SimNode>(world, *network, id, 1, sim::ClockSettings{}, 0, nullptr));
      attached.push_back(nodes.back().get());
    }
    network->attach(attached);
    replicas.resize(replica_count);
    for (io::NodeId id = 0; id < replica_count; id++) {
      replicas[id].id = id;
      nodes[id]->set_receiver(
          [this, id](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
            if (kind == static_cast<uint16_t>(Kind::request))
              replicas[id].on_request(*nodes[id], from, body);
          });
    }
    options.request_timeout_ms = 100;
    options.attempts_max = 4;
    client = std::make_unique<Client>(config, options, nodes[client_node]->env(), client_id);
  }

  // Submits command and runs until nothing is left to do; returns the outcome, if any.
  std::optional<ClientOutcome> submit(const std::string& command) {
    std::optional<ClientOutcome> outcome;
    int calls = 0;
    client->submit(command, [&](const ClientOutcome& result) {
      outcome = result;
      calls++;
    });
    EXPECT_FALSE(outcome.has_value()) << "done ran inside submit()";
    EXPECT_TRUE(client->busy());
    run();
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(client->busy());
    return outcome;
  }

  void run() {
    while (world.step(UINT64_MAX)) {
    }
  }

  // Sends reply to the client as if replica from had.
  void inject_reply(io::NodeId from, const proto::Reply& reply) {
    io::send_message(*nodes[from], client_node, static_cast<uint16_t>(Kind::reply), reply);
  }

  sim::Trace trace;
  sim::NetworkProfile profile;
  sim::World world;
  std::unique_ptr<sim::SimNetwork> network;
  std::vector<std::unique_ptr<sim::SimNode>> nodes;
  std::vector<FakeReplica> replicas;
  Config config;
  ClientOptions options;
  std::unique_ptr<Client> client;
};

TEST(VsrClient, RegistersFirstThenSendsTheRequestToThePrimary) {
  Rig rig(1);
  EXPECT_EQ(rig.client->session(), 0u);
  const std::optional<ClientOutcome> outcome = rig.submit("set a 1");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->status, ClientOutcome::Status::ok);
  EXPECT_EQ(outcome->result, "result:set a 1");
  EXPECT_EQ(outcome->op, 100u);
  EXPECT_EQ(rig.client->session(), 7u);

  const std::vector<proto::Request>& received = rig.replicas[0].received;
  ASSERT_EQ(received.size(), 2u);
  EXPECT_TRUE(received[0].register_());
  EXPECT_EQ(received[0].client(), client_id);
  EXPECT_EQ(received[0].session(), 0u);
  EXPECT_EQ(received[0].request(), 0u);
  EXPECT_FALSE(received[1].register_());
  EXPECT_EQ(received[1].session(), 7u);
  EXPECT_EQ(received[1].request(), 1u);
  EXPECT_EQ(received[1].command(), "set a 1");
  EXPECT_TRUE(rig.replicas[1].received.empty());  // No timeout, so no resend to the others.
  EXPECT_TRUE(rig.replicas[2].received.empty());
  EXPECT_EQ(rig.world.now_ns(), 4 * ms);  // Two round trips of 1 ms each way.
}

TEST(VsrClient, RequestNumbersIncreaseWithinASession) {
  Rig rig(2);
  rig.submit("a");
  rig.submit("b");
  rig.submit("c");
  const std::vector<proto::Request>& received = rig.replicas[0].received;
  ASSERT_EQ(received.size(), 4u);
  EXPECT_EQ(rig.replicas[0].received_registers(), 1u);
  for (uint64_t request = 1; request <= 3; request++) {
    EXPECT_EQ(received[request].request(), request);
    EXPECT_EQ(received[request].session(), 7u);
  }
}

TEST(VsrClient, AfterATimeoutRetriesToAllReplicasAndFindsThePrimary) {
  Rig rig(3);
  // Replica 0 is down; replica 1 is primary of view 1; replica 2 ignores requests as a backup.
  rig.replicas[0].mode = FakeReplica::Mode::drop;
  rig.replicas[1].view = 1;
  rig.replicas[2].mode = FakeReplica::Mode::drop;
  const std::optional<ClientOutcome> outcome = rig.submit("x");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->status, ClientOutcome::Status::ok);
  EXPECT_EQ(rig.client->view(), 1u);
  EXPECT_EQ(rig.client->session(), 7u);
  // The register reply already named view 1, so the request went straight to replica 1.
  EXPECT_EQ(rig.replicas[0].received_registers(), 2u);
  EXPECT_EQ(rig.replicas[1].received_registers(), 1u);
  EXPECT_EQ(rig.replicas[2].received_registers(), 1u);
  EXPECT_EQ(rig.replicas[0].received_command("x"), 0u);
  EXPECT_EQ(rig.replicas[1].received_command("x"), 1u);
  EXPECT_EQ(rig.world.now_ns(), 100 * ms + 4 * ms);
}

TEST(VsrClient, ARequestThatTimesOutIsResentToEveryReplica) {
  Rig rig(4);
  rig.submit("first");
  rig.replicas[0].mode = FakeReplica::Mode::drop;
  rig.replicas[2].view = 2;  // Replica 2 took over.
  const std::optional<ClientOutcome> outcome = rig.submit("second");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->status, ClientOutcome::Status::ok);
  EXPECT_EQ(outcome->result, "result:second");
  EXPECT_EQ(rig.replicas[0].received_command("second"), 2u);
  EXPECT_EQ(rig.replicas[1].received_command("second"), 1u);
  EXPECT_EQ(rig.replicas[2].received_command("second"), 1u);
  EXPECT_EQ(rig.client->view(), 2u);
}

TEST(VsrClient, TimesOutAfterItsAttempts) {
  Rig rig(5);
  for (FakeReplica& replica : rig.replicas) replica.mode = FakeReplica::Mode::drop;
  const std::optional<ClientOutcome> outcome = rig.submit("lost");
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->status, ClientOutcome::Status::timed_out);
  EXPECT_EQ(rig.world.now_ns(), 4 * 100 * ms);  // attempts_max timeouts
  // The register never got through, so the command was never sent.
  EXPECT_EQ(rig.replicas[0].received_registers(), 4u);
  EXPECT_EQ(rig.replicas[1].received_registers(), 3u);
  EXPECT_EQ(rig.replicas[2].received_registers(), 3u);
  EXPECT_EQ(rig.replicas[0].received_command("lost"), 0u);
  EXPECT_EQ(rig.client->session(), 0u);

  // Once the cluster answers again the client registers and goes on.
  for (FakeReplica& replica : rig.replicas) replica.mode = FakeReplica::Mode::answer;
  EXPECT_EQ(rig.submit("found")->status, ClientOutcome::Status::ok);
  EXPECT_EQ(rig.client->session(), 7u);
}

TEST(VsrClient, ARegisteredRequestTimesOutAfterItsAttempts) {
  Rig rig(6);
  rig.submit("first");
  for (FakeReplica& replica : rig.replicas) replica.mode = FakeReplica::Mode::drop;
  const uint64_t start_ns = rig.world.now_ns();
  EXPECT_EQ(rig.submit("second")->status, ClientOutcome::Status::timed_out);
  EXPECT_EQ(rig.world.now_ns() - start_ns, 4 * 100 * ms);
  EXPECT_EQ(rig.replicas[0].received_command("second"), 4u);
  EXPECT_EQ(rig.client->session(), 7u);  // A time-out keeps the session.
}

TEST(VsrClient, EvictionResetsTheSessionAndTheNextCommandRegistersAgain) {
  Rig rig(7);
  EXPECT_EQ(rig.submit("one")->status, ClientOutcome::Status::ok);
  EXPECT_EQ(rig.client->session(), 7u);
  rig.replicas[0].mode = FakeReplica::Mode::evict;
  EXPECT_EQ(rig.submit("two")->status, ClientOutcome::Status::evicted);
  EXPECT_EQ(rig.client->session(), 0u);

  rig.replicas[0].mode = FakeReplica::Mode::answer;
  rig.replicas[0].register_op = 8;
  const std::optional<ClientOutcome> outcome = rig.submit("three");
  EXPECT_EQ(outcome->status, ClientOutcome::Status::ok);
  EXPECT_EQ(rig.client->session(), 8u);
  EXPECT_EQ(rig.replicas[0].received_registers(), 2u);
  const proto::Request& last = rig.replicas[0].received.back();
  EXPECT_EQ(last.session(), 8u);
  EXPECT_EQ(last.request(), 1u);  // Request numbers start again in the new session.
}

TEST(VsrClient, AnUnknownSessionIsAnEvictionAndAStaleRequestATimeOut) {
  Rig rig(8);
  rig.submit("one");
  rig.replicas[0].mode = FakeReplica::Mode::stale;
  EXPECT_EQ(rig.submit("two")->status, ClientOutcome::Status::timed_out);
  EXPECT_EQ(rig.client->session(), 7u);
  rig.replicas[0].mode = FakeReplica::Mode::unknown_session;
  EXPECT_EQ(rig.submit("three")->status, ClientOutcome::Status::evicted);
  EXPECT_EQ(rig.client->session(), 0u);
}

TEST(VsrClient, StaleAndForeignRepliesAreIgnored) {
  Rig rig(9);
  rig.submit("one");  // session 7, request 1
  for (FakeReplica& replica : rig.replicas) replica.mode = FakeReplica::Mode::drop;
  std::optional<ClientOutcome> outcome;
  rig.client->submit("two", [&](const ClientOutcome& result) { outcome = result; });
  proto::Reply reply;
  reply.set_client(client_id);
  reply.set_session(7);
  reply.set_status(proto::OK);
  reply.set_request(1);  // the previous request
  rig.inject_reply(0, reply);
  reply.set_request(2);
  reply.set_session(6);  // another session
  rig.inject_reply(0, reply);
  reply.set_session(7);
  reply.set_client(client_id + 1);  // another client
  rig.inject_reply(0, reply);
  reply.set_client(client_id);
  rig.inject_reply(client_node, reply);  // not from a replica
  rig.run();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->status, ClientOutcome::Status::timed_out);
}

TEST(VsrClient, ALateCopyOfARegisterReplyDoesNotReviveAnEvictedSession) {
  Rig rig(10);
  rig.submit("one");
  rig.replicas[0].mode = FakeReplica::Mode::evict;
  rig.submit("two");
  ASSERT_EQ(rig.client->session(), 0u);
  // Registering again: the old REGISTER reply (op 7) arrives before the new one (op 9).
  rig.replicas[0].mode = FakeReplica::Mode::answer;
  rig.replicas[0].register_op = 9;
  proto::Reply old_reply;
  old_reply.set_client(client_id);
  old_reply.set_session(7);
  old_reply.set_op(7);
  old_reply.set_status(proto::OK);
  std::optional<ClientOutcome> outcome;
  rig.client->submit("three", [&](const ClientOutcome& result) { outcome = result; });
  rig.inject_reply(1, old_reply);
  rig.run();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(outcome->status, ClientOutcome::Status::ok);
  EXPECT_EQ(rig.client->session(), 9u);
  EXPECT_EQ(rig.replicas[0].received.back().session(), 9u);
}

TEST(VsrClient, DuplicateRepliesCompleteARequestOnce) {
  Rig rig(11);
  for (FakeReplica& replica : rig.replicas) replica.duplicate = true;
  EXPECT_EQ(rig.submit("one")->result, "result:one");  // submit() checks done ran once
  EXPECT_EQ(rig.submit("two")->result, "result:two");
  EXPECT_EQ(rig.replicas[0].received_registers(), 1u);
}

TEST(VsrClient, FollowsTheViewOfRepliesToTheNewPrimary) {
  Rig rig(12);
  rig.replicas[0].view = 5;  // Any reply naming a view steers the next request.
  rig.submit("one");
  EXPECT_EQ(rig.client->view(), 5u);
  EXPECT_EQ(rig.replicas[0].received_command("one"), 0u);  // sent after the register reply
  EXPECT_EQ(rig.replicas[2].received_command("one"), 1u);  // 5 % 3
  rig.submit("two");
  EXPECT_EQ(rig.replicas[2].received_command("two"), 1u);
  EXPECT_EQ(rig.replicas[0].received_command("two"), 0u);
  EXPECT_EQ(rig.replicas[1].received_command("two"), 0u);
}

TEST(VsrClient, ThePrimaryGuessNeverGoesBackToAnOlderView) {
  Rig rig(13);
  rig.replicas[0].view = 4;
  rig.submit("one");  // registers at 0, view 4: the request goes to replica 1
  EXPECT_EQ(rig.client->view(), 4u);
  rig.replicas[1].view = 2;  // an old view's reply
  rig.submit("two");
  EXPECT_EQ(rig.client->view(), 4u);
  EXPECT_EQ(rig.replicas[1].received_command("two"), 1u);
}

TEST(VsrClient, DestroyingTheClientMidRequestLeavesNoCallbacks) {
  Rig rig(14);
  bool called = false;
  rig.client->submit("one", [&](const ClientOutcome&) { called = true; });
  rig.world.step(UINT64_MAX);  // the REGISTER is in flight, its timer pending
  rig.client.reset();
  rig.run();  // the reply arrives at a node with no receiver; the timer never fires
  EXPECT_FALSE(called);
  EXPECT_EQ(rig.replicas[0].received_registers(), 1u);
}

}  // namespace
}  // namespace keel::vsr
