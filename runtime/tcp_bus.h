#pragma once
// io::MessageBus over TCP on the runtime's loop (docs/runtime.md, "The message bus").
//
// Every message travels as one checksummed frame (io/frame.h), the simulator's frames. Each
// connection opens with a hello frame naming the sender: a replica index, or any id at or
// above replica_count for a client. A replica listens on its own address and dials every other
// replica, sending on the connection it dialed; a client dials every replica. Replies to a
// client go back on the connection the client dialed, under a node id the bus assigns to it.
//
// The bus is best-effort, like the simulator's network: a message to a peer that is not
// connected, or whose send queue is full, is dropped and counted; the protocol retries. A frame
// that fails its checks closes the connection it came on (a stream cannot resynchronise) and
// is counted; garbage never reaches the receiver. Lost connections are dialed again with
// exponential backoff.

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/bus.h"
#include "io/random.h"
#include "runtime/listener.h"
#include "runtime/loop.h"
#include "runtime/send_buffer.h"

namespace keel::runtime {

struct TcpBusOptions {
  uint64_t cluster_id = 0;
  io::NodeId self = 0;  // a replica index, or replica_count or above for a client
  std::vector<sockaddr_in> replica_addresses;  // index: replica
  uint64_t reconnect_delay_ms_min = 10;
  uint64_t reconnect_delay_ms_max = 1000;
  uint64_t send_queue_size_bytes_max = 64ull << 20;  // per connection
  uint32_t accepted_connections_max = 1024;
  // Node ids handed to accepted clients stay below this (ids above are another route's).
  io::NodeId client_node_end = io::node_id_none;
  // A replica this bus never dials: one reached another way (runtime/local_route.h).
  io::NodeId replica_not_dialed = io::node_id_none;
};

struct TcpBusCounters {
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t messages_dropped = 0;  // peer not connected, send queue full, or frame too big
  uint64_t frames_bad = 0;        // failed a check: the connection was closed
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over accepted_connections_max
  uint64_t connects_failed = 0;
  uint64_t connections_lost = 0;
};

class TcpBus final : public io::MessageBus {
 public:
  // A replica (self below replica_count) listens on its address; nullptr with error set if it
  // cannot (the port is taken, say).
  static std::unique_ptr<TcpBus> create(Loop& loop, const TcpBusOptions& options, uint64_t seed,
                                        std::string& error);
  ~TcpBus() override;
  TcpBus(const TcpBus&) = delete;
  TcpBus& operator=(const TcpBus&) = delete;

  io::NodeId self() const override { return options_.self; }
  void send(io::NodeId to, uint16_t kind, std::span<const uint8_t> body) override;
  void set_receiver(Receiver receiver) override { receiver_ = std::move(receiver); }

  // Closes every connection and stops dialing and accepting. The loop then completes the
  // sockets' pending operations; idle() says when none is left.
  void stop();
  bool idle() const;
  // Replicas with an open dialed connection (for tests and readiness).
  uint32_t peers_connected() const;
  const TcpBusCounters& counters() const { return counters_; }

  struct Connection;

 private:
  TcpBus(Loop& loop, const TcpBusOptions& options, uint64_t seed);
  uint32_t replica_count() const;
  bool is_replica() const { return options_.self < replica_count(); }

  void accepted(int fd);
  void dial(io::NodeId replica);
  void dial_later(io::NodeId replica);
  Connection& add_connection(int fd, io::NodeId peer, bool dialed);
  bool operation_done(Connection& connection);
  void close(Connection& connection);
  void destroy(Connection& connection);
  void flush(Connection& connection);
  void receive(Connection& connection);
  bool parse_frames(Connection& connection);
  bool bad_frame(Connection& connection);
  bool hello(Connection& connection, std::span<const uint8_t> body);
  void deliver_to_self();

  Loop& loop_;
  const TcpBusOptions options_;
  io::Random random_;
  Receiver receiver_;
  TcpBusCounters counters_;
  bool stopped_ = false;
  std::unique_ptr<Listener> listener_;  // replicas only
  uint64_t connection_next_ = 1;
  io::NodeId client_node_next_ = 0;
  // Every live connection, by a number of its own (ordered: iteration must not depend on
  // pointer values).
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> dialed_;            // index: replica; nullptr while not connected
  std::vector<uint32_t> dial_failures_;        // index: replica; reset by a connection
  std::vector<io::TimerId> dial_timers_;       // index: replica
  std::map<io::NodeId, Connection*> clients_;  // accepted client connections by node id
  // Messages to self, delivered on a later turn like any other.
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> self_queue_;
  io::TimerId self_timer_ = io::timer_id_none;
};

// "host:port" with an IPv4 literal or "localhost"; false if it is not one.
bool parse_ipv4_address(const std::string& text, sockaddr_in& address);
std::string format_address(const sockaddr_in& address);

}  // namespace keel::runtime
