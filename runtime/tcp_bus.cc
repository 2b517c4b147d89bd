#include "runtime/tcp_bus.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "io/assert.h"
#include "io/frame.h"
#include "io/little_endian.h"

namespace keel::runtime {

namespace {

// The first frame on every connection; no protocol uses this kind.
constexpr uint16_t hello_kind = 0xffff;
constexpr uint64_t hello_body_size_bytes = 4;
constexpr uint64_t inbound_size_bytes_min = 64 * 1024;
constexpr uint64_t frame_size_bytes_max =
    io::frame_header_size_bytes + io::frame_body_size_bytes_max;
constexpr uint64_t connect_timeout_ms = 2000;

}  // namespace

struct TcpBus::Connection {
  uint64_t number = 0;
  int fd = -1;
  io::NodeId peer = io::node_id_none;  // unknown on an accepted connection until its hello
  bool dialed = false;
  bool open = false;     // connected: sends may start
  bool closing = false;  // shut down; destroyed once no operation is pending
  bool hello_received = false;
  bool sending = false;
  bool receiving = false;
  uint32_t operations_pending = 0;
  io::TimerId connect_timer = io::timer_id_none;
  // Received bytes: [inbound_start, inbound_end) is not yet parsed.
  std::vector<uint8_t> inbound;
  size_t inbound_start = 0;
  size_t inbound_end = 0;
  SendBuffer outbound;  // frames
};

bool parse_ipv4_address(const std::string& text, sockaddr_in& address) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  if (port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  const unsigned long port = std::stoul(port_text);
  if (port == 0 || port > 65535) return false;
  if (host == "localhost") host = "127.0.0.1";
  address = sockaddr_in{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, host.c_str(), &address.sin_addr) == 1;
}

std::string format_address(const sockaddr_in& address) {
  char host[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address.sin_addr, host, sizeof(host));
  return std::string(host) + ":" + std::to_string(ntohs(address.sin_port));
}

std::unique_ptr<TcpBus> TcpBus::create(Loop& loop, const TcpBusOptions& options, uint64_t seed,
                                       std::string& error) {
  KEEL_ASSERT(!options.replica_addresses.empty());
  KEEL_ASSERT(options.reconnect_delay_ms_min > 0);
  KEEL_ASSERT(options.client_node_end > options.replica_addresses.size());
  KEEL_ASSERT(options.reconnect_delay_ms_min <= options.reconnect_delay_ms_max);
  auto bus = std::unique_ptr<TcpBus>(new TcpBus(loop, options, seed));
  if (bus->is_replica()) {
    const sockaddr_in& address = options.replica_addresses[options.self];
    const int fd = loop.listen_tcp(address, 128);
    if (fd < 0) {
      error = "cannot listen on " + format_address(address) + ": " + std::strerror(-fd);
      return nullptr;
    }
    TcpBus* raw = bus.get();
    bus->listener_ =
        std::make_unique<Listener>(loop, fd, [raw](int accepted) { raw->accepted(accepted); });
  }
  for (io::NodeId replica = 0; replica < bus->replica_count(); replica++) {
    if (replica != options.self && replica != options.replica_not_dialed) bus->dial(replica);
  }
  return bus;
}

TcpBus::TcpBus(Loop& loop, const TcpBusOptions& options, uint64_t seed)
    : loop_(loop),
      options_(options),
      random_(seed),
      client_node_next_(static_cast<io::NodeId>(options.replica_addresses.size())),
      dialed_(options.replica_addresses.size(), nullptr),
      dial_failures_(options.replica_addresses.size(), 0),
      dial_timers_(options.replica_addresses.size(), io::timer_id_none) {}

TcpBus::~TcpBus() {
  // Pending socket operations hold pointers into the connections: destroy the bus only after
  // stop() once idle(), or when the loop will not run again.
  for (io::TimerId timer : dial_timers_) loop_.cancel_timer(timer);
  loop_.cancel_timer(self_timer_);
  for (auto& [number, connection] : connections_) {
    loop_.cancel_timer(connection->connect_timer);
    if (connection->operations_pending == 0) loop_.close_socket(connection->fd);
  }
}

uint32_t TcpBus::replica_count() const {
  return static_cast<uint32_t>(options_.replica_addresses.size());
}

// --- sending ---

void TcpBus::send(io::NodeId to, uint16_t kind, std::span<const uint8_t> body) {
  KEEL_ASSERT(kind != hello_kind);
  if (stopped_ || body.size() > io::frame_body_size_bytes_max) {
    counters_.messages_dropped++;
    return;
  }
  if (to == options_.self) {
    self_queue_.emplace_back(kind, std::vector<uint8_t>(body.begin(), body.end()));
    if (self_timer_ == io::timer_id_none) {
      self_timer_ = loop_.start_timer(0, [this] { deliver_to_self(); });
    }
    counters_.messages_sent++;
    return;
  }
  Connection* connection = nullptr;
  if (to < replica_count()) {
    connection = dialed_[to];
  } else if (const auto found = clients_.find(to); found != clients_.end()) {
    connection = found->second;
  }
  const uint64_t frame_size_bytes = io::frame_header_size_bytes + body.size();
  if (connection == nullptr || connection->closing ||
      connection->outbound.queued().size() + frame_size_bytes >
          options_.send_queue_size_bytes_max) {
    counters_.messages_dropped++;
    return;
  }
  io::encode_frame(options_.cluster_id, kind, body, connection->outbound.queued());
  counters_.messages_sent++;
  flush(*connection);
}

void TcpBus::flush(Connection& connection) {
  if (!connection.open || connection.closing || connection.sending) return;
  const std::span<const uint8_t> rest = connection.outbound.next();
  if (rest.empty()) return;
  connection.sending = true;
  connection.operations_pending++;
  loop_.send(connection.fd, rest, [this, &connection](int64_t result) {
    connection.sending = false;
    if (operation_done(connection)) return;
    if (result <= 0) {
      close(connection);
      return;
    }
    connection.outbound.sent(static_cast<uint64_t>(result));
    flush(connection);
  });
}

void TcpBus::deliver_to_self() {
  self_timer_ = io::timer_id_none;
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> messages;
  messages.swap(self_queue_);
  for (const auto& [kind, body] : messages) {
    if (stopped_) return;
    counters_.messages_received++;
    if (receiver_) receiver_(options_.self, kind, body);
  }
}

// --- connections ---

TcpBus::Connection& TcpBus::add_connection(int fd, io::NodeId peer, bool dialed) {
  auto connection = std::make_unique<Connection>();
  connection->number = connection_next_++;
  connection->fd = fd;
  connection->peer = peer;
  connection->dialed = dialed;
  connection->inbound.resize(inbound_size_bytes_min);
  Connection& added = *connection;
  connections_.emplace(added.number, std::move(connection));
  return added;
}

// Returns true if the connection is closing, after destroying it if this was its last
// operation: the caller must not touch it then.
bool TcpBus::operation_done(Connection& connection) {
  KEEL_ASSERT(connection.operations_pending > 0);
  connection.operations_pending--;
  if (!connection.closing) return false;
  if (connection.operations_pending == 0) destroy(connection);
  return true;
}

void TcpBus::destroy(Connection& connection) {
  KEEL_ASSERT(connection.closing);
  KEEL_ASSERT(connection.operations_pending == 0);
  loop_.close_socket(connection.fd);
  connections_.erase(connection.number);
}

void TcpBus::close(Connection& connection) {
  if (connection.closing) return;
  connection.closing = true;
  connection.open = false;
  loop_.cancel_timer(connection.connect_timer);
  connection.connect_timer = io::timer_id_none;
  // Ends the pending operations; the last one to complete destroys the connection.
  shutdown(connection.fd, SHUT_RDWR);
  if (connection.dialed) {
    KEEL_ASSERT(dialed_[connection.peer] == &connection);
    dialed_[connection.peer] = nullptr;
    if (!stopped_) dial_later(connection.peer);
  } else if (connection.peer != io::node_id_none && connection.peer >= replica_count()) {
    clients_.erase(connection.peer);
  }
  if (connection.operations_pending == 0) {
    // Not from inside a completion of this connection (operations_pending would be above 0
    // there, or the caller returns right after): destroy on a later turn to be safe.
    const uint64_t number = connection.number;
    loop_.start_timer(0, [this, number] {
      const auto found = connections_.find(number);
      if (found != connections_.end() && found->second->operations_pending == 0) {
        destroy(*found->second);
      }
    });
  }
}

void TcpBus::dial(io::NodeId replica) {
  KEEL_ASSERT(replica < replica_count() && replica != options_.self);
  KEEL_ASSERT(dialed_[replica] == nullptr);
  dial_timers_[replica] = io::timer_id_none;
  if (stopped_) return;
  const int fd = loop_.open_tcp_socket();
  if (fd < 0) {
    counters_.connects_failed++;
    dial_later(replica);
    return;
  }
  Connection& connection = add_connection(fd, replica, true);
  dialed_[replica] = &connection;
  // The hello goes first; messages sent while connecting queue behind it.
  uint8_t hello[hello_body_size_bytes];
  io::store_u32(hello, options_.self);
  io::encode_frame(options_.cluster_id, hello_kind, hello, connection.outbound.queued());
  connection.operations_pending++;
  connection.connect_timer = loop_.start_timer(connect_timeout_ms * io::ns_per_ms, [&connection] {
    connection.connect_timer = io::timer_id_none;
    shutdown(connection.fd, SHUT_RDWR);
  });
  loop_.connect(fd, options_.replica_addresses[replica], [this, &connection](int64_t result) {
    loop_.cancel_timer(connection.connect_timer);
    connection.connect_timer = io::timer_id_none;
    if (operation_done(connection)) return;
    if (result < 0) {
      counters_.connects_failed++;
      close(connection);
      return;
    }
    dial_failures_[connection.peer] = 0;
    connection.open = true;
    receive(connection);
    flush(connection);
  });
}

void TcpBus::dial_later(io::NodeId replica) {
  KEEL_ASSERT(dial_timers_[replica] == io::timer_id_none);
  const uint32_t shift = std::min<uint32_t>(dial_failures_[replica], 20);
  dial_failures_[replica]++;
  const uint64_t delay_ms =
      std::min(options_.reconnect_delay_ms_max, options_.reconnect_delay_ms_min << shift);
  // Jitter keeps replicas that lost each other at once from dialing in lockstep.
  const uint64_t jitter_ms = random_.uniform(delay_ms / 2 + 1);
  dial_timers_[replica] =
      loop_.start_timer((delay_ms + jitter_ms) * io::ns_per_ms, [this, replica] { dial(replica); });
}

void TcpBus::accepted(int fd) {
  if (stopped_ || connections_.size() >= options_.accepted_connections_max + replica_count()) {
    counters_.connections_refused++;
    ::close(fd);
    return;
  }
  counters_.connections_accepted++;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  Connection& connection = add_connection(fd, io::node_id_none, false);
  connection.open = true;
  receive(connection);
}

// --- receiving ---

void TcpBus::receive(Connection& connection) {
  KEEL_ASSERT(!connection.receiving && !connection.closing);
  // Unparsed bytes move to the front; the buffer grows to hold the frame being received.
  if (connection.inbound_start > 0) {
    std::memmove(connection.inbound.data(), connection.inbound.data() + connection.inbound_start,
                 connection.inbound_end - connection.inbound_start);
    connection.inbound_end -= connection.inbound_start;
    connection.inbound_start = 0;
  }
  if (connection.inbound_end == connection.inbound.size()) {
    KEEL_ASSERT(connection.inbound.size() < frame_size_bytes_max);
    connection.inbound.resize(
        std::min<size_t>(connection.inbound.size() * 2, frame_size_bytes_max));
  }
  connection.receiving = true;
  connection.operations_pending++;
  const std::span<uint8_t> space(connection.inbound.data() + connection.inbound_end,
                                 connection.inbound.size() - connection.inbound_end);
  loop_.recv(connection.fd, space, [this, &connection](int64_t result) {
    connection.receiving = false;
    if (operation_done(connection)) return;
    if (result <= 0) {
      counters_.connections_lost++;
      close(connection);
      return;
    }
    connection.inbound_end += static_cast<size_t>(result);
    KEEL_ASSERT(connection.inbound_end <= connection.inbound.size());
    if (parse_frames(connection)) receive(connection);
  });
}

// Delivers every whole frame received; false if the connection closed meanwhile.
bool TcpBus::parse_frames(Connection& connection) {
  while (!connection.closing) {
    const std::span<const uint8_t> unparsed(connection.inbound.data() + connection.inbound_start,
                                            connection.inbound_end - connection.inbound_start);
    if (unparsed.size() < io::frame_header_size_bytes) return true;
    const uint64_t frame_size_bytes = io::frame_size_announced(unparsed);
    if (frame_size_bytes == 0) return bad_frame(connection);
    if (unparsed.size() < frame_size_bytes) {
      if (connection.inbound.size() < frame_size_bytes) connection.inbound.resize(frame_size_bytes);
      return true;
    }
    const io::DecodedFrame frame =
        io::decode_frame(unparsed.first(frame_size_bytes), options_.cluster_id);
    if (frame.error != io::FrameError::none) return bad_frame(connection);
    connection.inbound_start += frame_size_bytes;
    if (frame.header.kind == hello_kind) {
      if (!hello(connection, frame.body)) return bad_frame(connection);
      continue;
    }
    if (!connection.dialed && !connection.hello_received) return bad_frame(connection);
    counters_.messages_received++;
    if (receiver_) receiver_(connection.peer, frame.header.kind, frame.body);
  }
  return false;
}

bool TcpBus::bad_frame(Connection& connection) {
  counters_.frames_bad++;
  close(connection);
  return false;
}

// Names the sender of an accepted connection; false if the hello is malformed or repeated.
bool TcpBus::hello(Connection& connection, std::span<const uint8_t> body) {
  if (connection.dialed || connection.hello_received || body.size() != hello_body_size_bytes) {
    return false;
  }
  const io::NodeId sender = io::load_u32(body.data());
  if (sender == options_.self) return false;
  connection.hello_received = true;
  if (sender < replica_count()) {
    connection.peer = sender;
    return true;
  }
  // Clients get node ids of their own, never reused, so a reply cannot reach a stranger.
  if (!is_replica() || client_node_next_ == options_.client_node_end) return false;
  connection.peer = client_node_next_++;
  clients_.emplace(connection.peer, &connection);
  return true;
}

// --- stopping ---

void TcpBus::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (io::TimerId& timer : dial_timers_) {
    loop_.cancel_timer(timer);
    timer = io::timer_id_none;
  }
  self_queue_.clear();
  std::vector<Connection*> open;
  for (auto& [number, connection] : connections_) open.push_back(connection.get());
  for (Connection* connection : open) close(*connection);
  if (listener_ != nullptr) listener_->stop();
}

bool TcpBus::idle() const {
  return connections_.empty() && (listener_ == nullptr || listener_->idle());
}

uint32_t TcpBus::peers_connected() const {
  uint32_t connected = 0;
  for (const Connection* connection : dialed_) {
    if (connection != nullptr && connection->open) connected++;
  }
  return connected;
}

}  // namespace keel::runtime
