#pragma once
// The in-process way between a replica and the client sessions of its own process (the Redis
// front door, docs/runtime.md "The local route"). A session's request to its own replica, and
// the reply, skip the sockets: no syscall, no loopback TCP. Everything else goes over the
// network bus as before: the replica's messages to other replicas and to remote clients, a
// session's requests to other replicas (a backup's sessions reach the primary that way).
//
// Local messages keep the bus's promises (io/bus.h): the body is copied before send returns,
// delivery happens on a later loop turn, and a full queue drops (and counts) rather than grows.

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "io/bus.h"
#include "runtime/loop.h"

namespace keel::runtime {

struct LocalRouteCounters {
  uint64_t messages_delivered = 0;
  uint64_t messages_dropped = 0;  // queue full, or the session was gone by delivery
};

class LocalRoute {
 public:
  // Local sessions get node ids from client_node_first up; the network bus must never hand
  // out one of those (TcpBusOptions::client_node_end).
  static constexpr io::NodeId client_node_first = io::NodeId{1} << 31;
  static constexpr uint64_t queue_size_bytes_max = 64ull << 20;

  // network: the replica's own bus. The route takes over its receiver.
  LocalRoute(Loop& loop, io::MessageBus& network, io::NodeId replica);
  ~LocalRoute();
  LocalRoute(const LocalRoute&) = delete;
  LocalRoute& operator=(const LocalRoute&) = delete;

  // The replica's bus: local sessions by route, everything else by the network.
  io::MessageBus& replica_bus();
  // A session's bus: to this replica by route, to the others by session_network (its own client
  // bus, whose receiver it takes over). Must not outlive the route.
  std::unique_ptr<io::MessageBus> session_bus(io::MessageBus& session_network);

  const LocalRouteCounters& counters() const { return counters_; }
  size_t queued() const { return queue_.size(); }

  class ReplicaBus;
  class SessionBus;

 private:
  struct Message {
    io::NodeId to;
    io::NodeId from;
    uint16_t kind;
    std::vector<uint8_t> body;
  };

  void enqueue(io::NodeId to, io::NodeId from, uint16_t kind, std::span<const uint8_t> body);
  void deliver();
  void forget(io::NodeId session);

  Loop& loop_;
  const io::NodeId replica_;
  std::unique_ptr<ReplicaBus> replica_bus_;
  io::NodeId session_next_ = client_node_first;
  std::map<io::NodeId, SessionBus*> sessions_;
  std::vector<Message> queue_;
  uint64_t queue_size_bytes_ = 0;
  io::TimerId deliver_timer_ = io::timer_id_none;
  LocalRouteCounters counters_;
};

}  // namespace keel::runtime
