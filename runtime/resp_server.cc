#include "runtime/resp_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/vsr/client.h"
#include "io/assert.h"
#include "runtime/clock.h"
#include "runtime/send_buffer.h"
#include "runtime/tcp_bus.h"

namespace keel::runtime {

namespace {

constexpr uint64_t receive_size_bytes = 64 * 1024;
constexpr uint64_t reap_interval_ms = 20;

uint64_t fresh_seed() {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device() ^ Loop::monotonic_ns();
}

}  // namespace

struct RespServer::Connection {
  uint64_t number = 0;
  int fd = -1;
  bool closing = false;
  bool receiving = false;
  bool sending = false;
  uint32_t operations_pending = 0;
  std::vector<uint8_t> inbound;
  SendBuffer outbound;  // replies
  // The session's way to the cluster: a client bus of its own (replies come back on it), the
  // local route in front of it (when there is one), and one VSR client session.
  io::Random random{0};
  SystemClock clock;
  std::unique_ptr<LoopTimers> timers;
  std::unique_ptr<TcpBus> bus;
  std::unique_ptr<io::MessageBus> local_bus;  // goes before bus: it holds a reference to it
  std::unique_ptr<vsr::Client> client;
  std::unique_ptr<resp::RespSession> session;
};

std::unique_ptr<RespServer> RespServer::create(Loop& loop, const sockaddr_in& address,
                                               const RespServerOptions& options, Info info,
                                               ViewHint view_hint, std::string& error) {
  const int fd = loop.listen_tcp(address, 512);
  if (fd < 0) {
    error = "cannot listen on " + format_address(address) + ": " + std::strerror(-fd);
    return nullptr;
  }
  auto server = std::unique_ptr<RespServer>(
      new RespServer(loop, options, std::move(info), std::move(view_hint)));
  RespServer* raw = server.get();
  server->listener_ =
      std::make_unique<Listener>(loop, fd, [raw](int accepted) { raw->accepted(accepted); });
  return server;
}

RespServer::RespServer(Loop& loop, const RespServerOptions& options, Info info, ViewHint view_hint)
    : loop_(loop), options_(options), info_(std::move(info)), view_hint_(std::move(view_hint)) {
  KEEL_ASSERT(info_ && view_hint_);
  KEEL_ASSERT(!options_.replica_addresses.empty());
  KEEL_ASSERT((options_.local_route == nullptr) ||
              (options_.local_replica < options_.replica_addresses.size()));
}

RespServer::~RespServer() {
  // As the bus: destroy only once idle(), or when the loop will not run again.
  loop_.cancel_timer(reap_timer_);
  for (auto& [number, connection] : connections_) {
    connection->client.reset();
    if (connection->bus != nullptr && !connection->bus->idle()) (void)connection->bus.release();
  }
}

void RespServer::accepted(int fd) {
  if (stopped_ || connections_.size() >= options_.connections_max) {
    counters_.connections_refused++;
    ::close(fd);
    return;
  }
  counters_.connections_accepted++;
  auto owned = std::make_unique<Connection>();
  Connection& connection = *owned;
  connection.number = connection_next_++;
  connection.fd = fd;
  connection.inbound.resize(receive_size_bytes);
  connection.random = io::Random(fresh_seed());
  connection.timers = std::make_unique<LoopTimers>(loop_);
  TcpBusOptions bus_options;
  bus_options.cluster_id = options_.cluster_id;
  bus_options.self = static_cast<io::NodeId>(options_.replica_addresses.size());
  bus_options.replica_addresses = options_.replica_addresses;
  if (options_.local_route != nullptr) bus_options.replica_not_dialed = options_.local_replica;
  std::string error;
  connection.bus = TcpBus::create(loop_, bus_options, connection.random.next_u64(), error);
  KEEL_ASSERT(connection.bus != nullptr);  // a client bus listens on nothing: it cannot fail
  io::MessageBus* bus = connection.bus.get();
  if (options_.local_route != nullptr) {
    connection.local_bus = options_.local_route->session_bus(*connection.bus);
    bus = connection.local_bus.get();
  }
  const io::Env env{connection.clock, *connection.timers, *bus, connection.random,
                    nullptr,          options_.cluster_id};
  vsr::ClientOptions client_options;
  client_options.attempts_max = 60;  // 30 s: rides out view changes and restarts
  client_options.view_hint = view_hint_();
  connection.client = std::make_unique<vsr::Client>(options_.config, client_options, env,
                                                    connection.random.next_u64());
  Connection* raw = &connection;
  connection.session = std::make_unique<resp::RespSession>(
      options_.session,
      [this, raw](std::string command, resp::RespSession::Done done) {
        raw->client->submit(std::move(command), [this, raw, done = std::move(done)](
                                                    const vsr::ClientOutcome& outcome) mutable {
          done(outcome.status == vsr::ClientOutcome::Status::ok, outcome.result);
          progress(*raw);
        });
      },
      [this] { return info_(); });
  connections_.emplace(connection.number, std::move(owned));
  receive(connection);
}

void RespServer::receive(Connection& connection) {
  if (connection.closing || connection.receiving || !connection.session->wants_input()) return;
  connection.receiving = true;
  connection.operations_pending++;
  loop_.recv(connection.fd, connection.inbound, [this, &connection](int64_t result) {
    connection.receiving = false;
    if (operation_done(connection)) return;
    if (result <= 0) {
      close(connection);
      return;
    }
    connection.session->receive(std::string_view(
        reinterpret_cast<const char*>(connection.inbound.data()), static_cast<size_t>(result)));
    if (connection.session->closing()) counters_.protocol_errors++;
    progress(connection);
  });
}

// After input or a reply: send what is ready, read more if the session wants it.
void RespServer::progress(Connection& connection) {
  if (connection.closing) return;
  connection.outbound.append(connection.session->take_output());
  flush(connection);
  receive(connection);
}

void RespServer::flush(Connection& connection) {
  if (connection.closing || connection.sending) return;
  const std::span<const uint8_t> rest = connection.outbound.next();
  if (rest.empty()) {
    // QUIT or a protocol error: the last reply is out.
    if (connection.session->closing()) close(connection);
    return;
  }
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

bool RespServer::operation_done(Connection& connection) {
  KEEL_ASSERT(connection.operations_pending > 0);
  connection.operations_pending--;
  return connection.closing;
}

// The socket shuts now; the connection goes once its socket operations have completed and its
// client bus has closed its own connections (reap()).
void RespServer::close(Connection& connection) {
  if (connection.closing) return;
  connection.closing = true;
  shutdown(connection.fd, SHUT_RDWR);
  connection.bus->stop();
  if (reap_timer_ == io::timer_id_none) {
    reap_timer_ = loop_.start_timer(reap_interval_ms * io::ns_per_ms, [this] { reap(); });
  }
}

void RespServer::reap() {
  reap_timer_ = io::timer_id_none;
  bool waiting = false;
  for (auto it = connections_.begin(); it != connections_.end();) {
    Connection& connection = *it->second;
    if (!connection.closing) {
      ++it;
    } else if (connection.operations_pending == 0 && connection.bus->idle()) {
      connection.client.reset();  // cancels its timers before the bus goes
      loop_.close_socket(connection.fd);
      it = connections_.erase(it);
    } else {
      waiting = true;
      ++it;
    }
  }
  if (waiting) {
    reap_timer_ = loop_.start_timer(reap_interval_ms * io::ns_per_ms, [this] { reap(); });
  }
}

void RespServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  listener_->stop();
  std::vector<Connection*> open;
  for (auto& [number, connection] : connections_) open.push_back(connection.get());
  for (Connection* connection : open) close(*connection);
}

bool RespServer::idle() const { return connections_.empty() && listener_->idle(); }

}  // namespace keel::runtime
