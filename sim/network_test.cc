#include "sim/network.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "sim/node.h"
#include "sim/world.h"

namespace keel::sim {
namespace {

constexpr uint64_t cluster = 7;

struct Delivery {
  io::NodeId to;
  io::NodeId from;
  uint16_t kind;
  std::vector<uint8_t> body;
  uint64_t at_ns;
};

// Diskless nodes on one network; every node's receiver logs what it is given.
struct Rig {
  explicit Rig(uint64_t seed, uint32_t node_count = 3, uint64_t last_node_cluster = cluster)
      : world(seed, node_count, trace), network(world, node_count, profile) {
    std::vector<SimNode*> attached;
    for (io::NodeId id = 0; id < node_count; id++) {
      const uint64_t cluster_id = id + 1 == node_count ? last_node_cluster : cluster;
      nodes.push_back(
          std::make_unique<SimNode>(world, network, id, cluster_id, ClockSettings{}, 0, nullptr));
      attached.push_back(nodes.back().get());
      listen(id);
    }
    network.attach(attached);
  }

  void listen(io::NodeId id) {
    nodes[id]->set_receiver(
        [this, id](io::NodeId from, uint16_t kind, std::span<const uint8_t> body) {
          deliveries.push_back(Delivery{
              id, from, kind, std::vector<uint8_t>(body.begin(), body.end()), world.now_ns()});
        });
  }
  void send(io::NodeId from, io::NodeId to, uint16_t kind = 1, std::vector<uint8_t> body = {1, 2}) {
    nodes[from]->send(to, kind, body);
  }
  void run(uint64_t deadline_ns = UINT64_MAX) {
    while (world.step(deadline_ns)) {
    }
  }
  uint64_t faults(FaultKind kind) const { return world.faults()[static_cast<size_t>(kind)]; }
  size_t delivered(io::NodeId from, io::NodeId to) const {
    size_t count = 0;
    for (const Delivery& d : deliveries) count += d.from == from && d.to == to;
    return count;
  }

  Trace trace;
  NetworkProfile profile;
  World world;
  SimNetwork network;
  std::vector<std::unique_ptr<SimNode>> nodes;
  std::vector<Delivery> deliveries;
};

TEST(SimNetwork, DeliversTheBodyKindAndSenderIntact) {
  Rig rig(1);
  rig.send(0, 2, 0x0a0b, {9, 8, 7, 6});
  rig.run();
  ASSERT_EQ(rig.deliveries.size(), 1u);
  EXPECT_EQ(rig.deliveries[0].to, 2u);
  EXPECT_EQ(rig.deliveries[0].from, 0u);
  EXPECT_EQ(rig.deliveries[0].kind, 0x0a0b);
  EXPECT_EQ(rig.deliveries[0].body, (std::vector<uint8_t>{9, 8, 7, 6}));
  EXPECT_EQ(rig.network.in_flight(0, 2), 0u);
}

TEST(SimNetwork, SendingToSelfIsDelivered) {
  Rig rig(2);
  rig.send(1, 1);
  rig.run();
  EXPECT_EQ(rig.delivered(1, 1), 1u);
}

TEST(SimNetwork, DeliveryIsNeverInsideSend) {
  Rig rig(3);
  rig.send(0, 1);
  EXPECT_TRUE(rig.deliveries.empty());
  EXPECT_EQ(rig.network.in_flight(0, 1), 1u);
}

TEST(SimNetwork, LatencyIsAtLeastTheMinimumAndBoundedByTheTail) {
  Rig rig(4);
  rig.profile.latency_min_ns = 300'000;
  rig.profile.latency_tail_mean_ns = 50'000;
  for (int i = 0; i < 200; i++) rig.send(0, 1);
  rig.run();
  ASSERT_EQ(rig.deliveries.size(), 200u);
  uint64_t earliest = UINT64_MAX;
  uint64_t latest = 0;
  for (const Delivery& d : rig.deliveries) {
    EXPECT_GE(d.at_ns, 300'000u);
    EXPECT_LE(d.at_ns, 300'000u + 20 * 50'000u);
    earliest = std::min(earliest, d.at_ns);
    latest = std::max(latest, d.at_ns);
  }
  EXPECT_GT(latest, earliest);  // There is a tail, not one fixed latency.
}

TEST(SimNetwork, WithoutATailLatencyIsExactlyTheMinimum) {
  Rig rig(5);
  rig.profile.latency_min_ns = 123'000;
  rig.profile.latency_tail_mean_ns = 0;
  for (int i = 0; i < 10; i++) rig.send(2, 0);
  rig.run();
  ASSERT_EQ(rig.deliveries.size(), 10u);
  for (const Delivery& d : rig.deliveries) EXPECT_EQ(d.at_ns, 123'000u);
}

TEST(SimNetwork, LossOfOneDropsEverythingAndCountsIt) {
  Rig rig(6);
  rig.profile.loss_probability = 1;
  for (int i = 0; i < 25; i++) rig.send(0, 1);
  rig.run();
  EXPECT_TRUE(rig.deliveries.empty());
  EXPECT_EQ(rig.faults(FaultKind::net_loss), 25u);
  EXPECT_EQ(rig.network.in_flight(0, 1), 0u);
}

TEST(SimNetwork, PartialLossDropsSomeAndDeliversTheRest) {
  Rig rig(7);
  rig.profile.loss_probability = 0.5;
  for (int i = 0; i < 400; i++) rig.send(0, 1);
  rig.run();
  const uint64_t lost = rig.faults(FaultKind::net_loss);
  EXPECT_EQ(rig.deliveries.size() + lost, 400u);
  EXPECT_GT(lost, 150u);
  EXPECT_LT(lost, 250u);
}

TEST(SimNetwork, DuplicationDeliversTwice) {
  Rig rig(8);
  rig.profile.duplicate_probability = 1;
  for (uint8_t i = 0; i < 10; i++) rig.send(0, 1, 1, {i});
  rig.run();
  EXPECT_EQ(rig.deliveries.size(), 20u);
  EXPECT_EQ(rig.faults(FaultKind::net_duplicate), 10u);
  for (uint8_t i = 0; i < 10; i++) {
    size_t copies = 0;
    for (const Delivery& d : rig.deliveries) copies += d.body == std::vector<uint8_t>{i};
    EXPECT_EQ(copies, 2u) << "message " << int{i};
  }
}

// A replayed message arrives twice: once as usual, and once more long after, when what it was
// about has moved on.
TEST(SimNetwork, AReplayDeliversACopyLongAfterTheOriginal) {
  Rig rig(12);
  rig.profile.latency_min_ns = 1'000'000;
  rig.profile.latency_tail_mean_ns = 0;
  rig.profile.replay_probability = 1;
  rig.profile.replay_delay_mean_ns = 2'000'000'000;
  for (uint8_t i = 0; i < 10; i++) rig.send(0, 1, 1, {i});
  rig.run();
  ASSERT_EQ(rig.deliveries.size(), 20u);
  EXPECT_EQ(rig.faults(FaultKind::net_replay), 10u);
  // The originals first, all at the latency; the copies after, most of them much later.
  uint64_t late = 0;
  for (size_t d = 0; d < 20; d++) {
    const bool original = d < 10;
    EXPECT_EQ(rig.deliveries[d].at_ns == 1'000'000, original) << "delivery " << d;
    if (!original && rig.deliveries[d].at_ns > 100'000'000) late++;
  }
  EXPECT_GE(late, 8u);
  for (uint8_t i = 0; i < 10; i++) {
    size_t copies = 0;
    for (const Delivery& d : rig.deliveries) copies += d.body == std::vector<uint8_t>{i};
    EXPECT_EQ(copies, 2u) << "message " << int{i};
  }
}

TEST(SimNetwork, CorruptionIsCaughtByTheReceiver) {
  Rig rig(9);
  rig.profile.corrupt_probability = 1;
  for (int i = 0; i < 30; i++) rig.send(0, 1, 1, std::vector<uint8_t>(50, 0xab));
  rig.run();
  EXPECT_TRUE(rig.deliveries.empty());
  EXPECT_EQ(rig.nodes[1]->frames_rejected(), 30u);
  EXPECT_EQ(rig.nodes[0]->frames_rejected(), 0u);
  EXPECT_EQ(rig.faults(FaultKind::net_corrupt), 30u);
}

TEST(SimNetwork, FrameFromAnotherClusterIsRejected) {
  Rig rig(10, 3, cluster + 1);  // Node 2 belongs to another cluster.
  rig.send(0, 2);
  rig.send(2, 1);
  rig.send(0, 1);
  rig.run();
  EXPECT_EQ(rig.nodes[2]->frames_rejected(), 1u);
  EXPECT_EQ(rig.nodes[1]->frames_rejected(), 1u);
  ASSERT_EQ(rig.deliveries.size(), 1u);
  EXPECT_EQ(rig.deliveries[0].from, 0u);
  EXPECT_EQ(rig.deliveries[0].to, 1u);
}

TEST(SimNetwork, MessagesBeyondTheLinkCapacityAreDropped) {
  Rig rig(11);
  rig.profile.link_capacity_messages = 4;
  for (int i = 0; i < 10; i++) rig.send(0, 1);
  for (int i = 0; i < 3; i++) rig.send(1, 0);  // Another direction, its own capacity.
  EXPECT_EQ(rig.network.in_flight(0, 1), 4u);
  EXPECT_EQ(rig.network.in_flight(1, 0), 3u);
  EXPECT_EQ(rig.faults(FaultKind::net_capacity_drop), 6u);
  rig.run();
  EXPECT_EQ(rig.delivered(0, 1), 4u);
  EXPECT_EQ(rig.delivered(1, 0), 3u);
  EXPECT_EQ(rig.network.in_flight(0, 1), 0u);
  // Capacity frees up as messages arrive.
  for (int i = 0; i < 4; i++) rig.send(0, 1);
  rig.run();
  EXPECT_EQ(rig.delivered(0, 1), 8u);
  EXPECT_EQ(rig.faults(FaultKind::net_capacity_drop), 6u);
}

TEST(SimNetwork, ClogHoldsMessagesUntilTheClogTimeThenDeliversThem) {
  Rig rig(12);
  rig.profile.latency_min_ns = 1'000;
  rig.profile.latency_tail_mean_ns = 1'000;
  const uint64_t until = 50 * io::ns_per_ms;
  rig.network.clog(0, 1, until);
  for (int i = 0; i < 5; i++) rig.send(0, 1);
  rig.send(0, 2);  // Another link is not clogged.
  rig.send(1, 0);  // Nor is the reverse direction.
  rig.run(until - 1);
  EXPECT_EQ(rig.delivered(0, 1), 0u);
  EXPECT_EQ(rig.delivered(0, 2), 1u);
  EXPECT_EQ(rig.delivered(1, 0), 1u);
  rig.run();
  EXPECT_EQ(rig.delivered(0, 1), 5u);  // Held, not dropped.
  for (const Delivery& d : rig.deliveries) {
    if (d.from == 0 && d.to == 1) {
      EXPECT_EQ(d.at_ns, until);
    }
  }
  // Once the clog has run out, the link is back to normal latency.
  const uint64_t start = rig.world.now_ns();
  rig.send(0, 1);
  rig.run();
  EXPECT_LE(rig.deliveries.back().at_ns, start + 1'000 + 20 * 1'000);
}

TEST(SimNetwork, ClogOnlyExtends) {
  Rig rig(13);
  rig.network.clog(0, 1, 80 * io::ns_per_ms);
  rig.network.clog(0, 1, 30 * io::ns_per_ms);
  rig.send(0, 1);
  rig.run();
  ASSERT_EQ(rig.deliveries.size(), 1u);
  EXPECT_EQ(rig.deliveries[0].at_ns, 80 * io::ns_per_ms);
}

TEST(SimNetwork, HealAllUnclogs) {
  Rig rig(14);
  rig.network.clog(0, 1, 80 * io::ns_per_ms);
  rig.network.set_blocked(1, 0, true);
  rig.network.heal_all();
  EXPECT_FALSE(rig.network.blocked(1, 0));
  rig.send(0, 1);
  rig.send(1, 0);
  rig.run();
  EXPECT_EQ(rig.delivered(0, 1), 1u);
  EXPECT_EQ(rig.delivered(1, 0), 1u);
  EXPECT_LT(rig.world.now_ns(), 80 * io::ns_per_ms);
}

TEST(SimNetwork, AsymmetricBlockDropsExactlyOneDirection) {
  Rig rig(15);
  rig.network.set_blocked(0, 1, true);
  EXPECT_TRUE(rig.network.blocked(0, 1));
  EXPECT_FALSE(rig.network.blocked(1, 0));
  for (int i = 0; i < 5; i++) {
    rig.send(0, 1);
    rig.send(1, 0);
    rig.send(0, 2);
  }
  rig.run();
  EXPECT_EQ(rig.delivered(0, 1), 0u);
  EXPECT_EQ(rig.delivered(1, 0), 5u);
  EXPECT_EQ(rig.delivered(0, 2), 5u);
  EXPECT_EQ(rig.network.in_flight(0, 1), 0u);
  // A partition drop is not a per-message fault.
  EXPECT_EQ(rig.faults(FaultKind::net_loss), 0u);
}

TEST(SimNetwork, UnblockAllHealsEveryPartition) {
  Rig rig(16);
  for (io::NodeId from = 0; from < 3; from++) {
    for (io::NodeId to = 0; to < 3; to++) rig.network.set_blocked(from, to, true);
  }
  rig.send(0, 1);
  rig.send(2, 0);
  rig.run();
  EXPECT_TRUE(rig.deliveries.empty());
  rig.network.unblock_all();
  for (io::NodeId from = 0; from < 3; from++) {
    for (io::NodeId to = 0; to < 3; to++) {
      EXPECT_FALSE(rig.network.blocked(from, to));
      rig.send(from, to);
    }
  }
  rig.run();
  EXPECT_EQ(rig.deliveries.size(), 9u);
}

TEST(SimNetwork, UnblockingOneLinkLeavesTheOthersBlocked) {
  Rig rig(17);
  rig.network.set_blocked(0, 1, true);
  rig.network.set_blocked(0, 2, true);
  rig.network.set_blocked(0, 1, false);
  rig.send(0, 1);
  rig.send(0, 2);
  rig.run();
  EXPECT_EQ(rig.delivered(0, 1), 1u);
  EXPECT_EQ(rig.delivered(0, 2), 0u);
}

// Sends one message every 100ns with a fixed latency, and returns the bodies in arrival order.
std::vector<uint8_t> arrival_order(Rig& rig) {
  rig.profile.latency_min_ns = 1'000;
  rig.profile.latency_tail_mean_ns = 0;
  for (uint8_t i = 0; i < 40; i++) {
    rig.world.loop().schedule(uint64_t{i} * 100, EventTag{}, [&rig, i] { rig.send(0, 1, 1, {i}); });
  }
  rig.run();
  std::vector<uint8_t> order;
  for (const Delivery& d : rig.deliveries) order.push_back(d.body[0]);
  return order;
}

TEST(SimNetwork, WithoutReorderingALinkIsFifoForSpacedSends) {
  Rig rig(18);
  const std::vector<uint8_t> order = arrival_order(rig);
  ASSERT_EQ(order.size(), 40u);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
}

TEST(SimNetwork, ReorderingLetsLaterMessagesOvertake) {
  Rig rig(18);
  rig.profile.reorder_probability = 0.5;
  const std::vector<uint8_t> order = arrival_order(rig);
  ASSERT_EQ(order.size(), 40u);
  EXPECT_GT(rig.faults(FaultKind::net_reorder), 0u);
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));
}

TEST(SimNetwork, DisabledFaultsLeaveMessagesAlone) {
  Rig rig(19);
  rig.network.set_faults_enabled(false);
  rig.profile.loss_probability = 1;
  rig.profile.duplicate_probability = 1;
  rig.profile.corrupt_probability = 1;
  rig.profile.reorder_probability = 1;
  for (int i = 0; i < 10; i++) rig.send(0, 1);
  rig.run();
  EXPECT_EQ(rig.deliveries.size(), 10u);
  EXPECT_EQ(rig.world.fault_total(), 0u);
}

TEST(SimNetwork, MessagesToACrashedNodeAreDroppedAndARestartedNodeNeedsANewReceiver) {
  Rig rig(20);
  rig.send(0, 1);
  rig.nodes[1]->crash();
  rig.run();
  EXPECT_TRUE(rig.deliveries.empty());
  EXPECT_EQ(rig.network.in_flight(0, 1), 0u);

  rig.send(0, 1);
  rig.nodes[1]->restart();
  rig.run();
  // The crash dropped the receiver; nothing is delivered until a process sets one again.
  EXPECT_TRUE(rig.deliveries.empty());
  rig.listen(1);
  rig.send(0, 1);
  rig.run();
  EXPECT_EQ(rig.delivered(0, 1), 1u);
}

TEST(SimNetwork, SendsAndDeliveriesAreTraced) {
  Rig rig(21);
  const uint64_t before = rig.trace.records();
  rig.send(0, 1);
  EXPECT_EQ(rig.trace.records(), before + 1);  // The send.
  rig.run();
  EXPECT_EQ(rig.trace.records(), before + 3);  // Plus the event and the delivery.
}

// Sends one message on every directed link of the first `count` endpoints and returns, for each
// (from, to), whether it arrived.
std::vector<std::vector<bool>> reachability(Rig& rig, uint32_t count) {
  rig.deliveries.clear();
  for (io::NodeId from = 0; from < count; from++) {
    for (io::NodeId to = 0; to < count; to++) {
      if (from != to) rig.send(from, to);
    }
  }
  rig.run();
  std::vector<std::vector<bool>> reached(count, std::vector<bool>(count, false));
  for (const Delivery& d : rig.deliveries) reached[d.from][d.to] = true;
  return reached;
}

TEST(SimNetwork, SymmetricPartitionCutsBothWaysBetweenTheSidesOnly) {
  Rig rig(40, 5);  // endpoints 0..3 in scope, 4 outside (a client)
  rig.network.partition(0b0011, 4, false);
  const auto reached = reachability(rig, 5);
  for (io::NodeId from = 0; from < 5; from++) {
    for (io::NodeId to = 0; to < 5; to++) {
      if (from == to) continue;
      const bool across = from < 4 && to < 4 && ((from < 2) != (to < 2));
      EXPECT_EQ(reached[from][to], !across) << from << "->" << to;
    }
  }
}

TEST(SimNetwork, AsymmetricPartitionCutsOnlyFromTheFirstSide) {
  Rig rig(41, 4);
  rig.network.partition(0b0001, 4, true);  // 0 cannot send to 1..3; they still reach 0
  const auto reached = reachability(rig, 4);
  for (io::NodeId to = 1; to < 4; to++) {
    EXPECT_FALSE(reached[0][to]) << to;
    EXPECT_TRUE(reached[to][0]) << to;
  }
  EXPECT_TRUE(reached[1][2]);
}

TEST(SimNetwork, IsolatingOneEndpointCutsItFromEveryone) {
  Rig rig(42, 4);
  rig.network.partition(0b0100, 4, false);
  const auto reached = reachability(rig, 4);
  for (io::NodeId other = 0; other < 4; other++) {
    if (other == 2) continue;
    EXPECT_FALSE(reached[2][other]);
    EXPECT_FALSE(reached[other][2]);
  }
  EXPECT_TRUE(reached[0][1]);
  EXPECT_TRUE(reached[3][0]);
}

TEST(SimNetwork, EndingAClientCutoffDoesNotEndAPartitionNorTheReverse) {
  Rig rig(43, 3);
  rig.network.partition(0b001, 3, false);  // 0 alone
  rig.network.set_blocked(2, 0, true, SimNetwork::BlockReason::client_cutoff);
  rig.network.set_blocked(2, 0, false, SimNetwork::BlockReason::client_cutoff);
  EXPECT_TRUE(rig.network.blocked(2, 0));  // still partitioned
  rig.network.set_blocked(2, 1, true, SimNetwork::BlockReason::client_cutoff);
  rig.network.unblock_all(SimNetwork::BlockReason::partition);
  EXPECT_FALSE(rig.network.blocked(2, 0));
  EXPECT_TRUE(rig.network.blocked(2, 1));  // the cutoff outlives the partition
  rig.network.heal_all();
  EXPECT_FALSE(rig.network.blocked(2, 1));
}

TEST(SimNetwork, ClogNodeHoldsEveryLinkOfTheNodeAndNoOther) {
  Rig rig(44, 3);
  rig.profile.latency_tail_mean_ns = 0;
  rig.network.clog_node(1, 50 * io::ns_per_ms);
  rig.send(0, 1);
  rig.send(1, 2);
  rig.send(0, 2);
  rig.run();
  ASSERT_EQ(rig.deliveries.size(), 3u);
  for (const Delivery& d : rig.deliveries) {
    const bool touches_node = d.from == 1 || d.to == 1;
    if (touches_node) {
      EXPECT_GE(d.at_ns, 50 * io::ns_per_ms);
    } else {
      EXPECT_LT(d.at_ns, 50 * io::ns_per_ms);
    }
  }
}

}  // namespace
}  // namespace keel::sim
