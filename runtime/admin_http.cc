#include "runtime/admin_http.h"

#include <fmt/format.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "io/assert.h"
#include "io/types.h"
#include "runtime/send_buffer.h"
#include "runtime/tcp_bus.h"

namespace keel::runtime {

struct AdminHttp::Connection {
  uint64_t number = 0;
  int fd = -1;
  bool closing = false;
  uint32_t operations_pending = 0;
  io::TimerId timeout = io::timer_id_none;
  std::vector<uint8_t> request;  // bytes received so far
  SendBuffer response;
};

std::string http_request_path(std::string_view head) {
  const size_t end = head.find("\r\n\r\n");
  if (end == std::string_view::npos) return "";
  const std::string_view line = head.substr(0, head.find("\r\n"));
  if (line.substr(0, 4) != "GET ") return "!";
  const size_t target_end = line.find(' ', 4);
  if (target_end == std::string_view::npos || line.substr(target_end + 1, 7) != "HTTP/1.") {
    return "!";
  }
  std::string_view target = line.substr(4, target_end - 4);
  target = target.substr(0, target.find('?'));
  if (target.empty() || target.front() != '/') return "!";
  return std::string(target);
}

std::unique_ptr<AdminHttp> AdminHttp::create(Loop& loop, const sockaddr_in& address,
                                             Handler handler, std::string& error) {
  KEEL_ASSERT(handler);
  const int fd = loop.listen_tcp(address, 64);
  if (fd < 0) {
    error = "cannot listen on " + format_address(address) + ": " + std::strerror(-fd);
    return nullptr;
  }
  auto server = std::unique_ptr<AdminHttp>(new AdminHttp(loop, std::move(handler)));
  AdminHttp* raw = server.get();
  server->listener_ =
      std::make_unique<Listener>(loop, fd, [raw](int accepted) { raw->accepted(accepted); });
  return server;
}

AdminHttp::AdminHttp(Loop& loop, Handler handler) : loop_(loop), handler_(std::move(handler)) {}

AdminHttp::~AdminHttp() {
  // As with the bus: destroy only once idle(), or when the loop will not run again.
  for (auto& [number, connection] : connections_) loop_.cancel_timer(connection->timeout);
}

void AdminHttp::accepted(int fd) {
  if (stopped_ || connections_.size() >= connections_max) {
    ::close(fd);
    return;
  }
  auto owned = std::make_unique<Connection>();
  Connection& connection = *owned;
  connection.number = connection_next_++;
  connection.fd = fd;
  connections_.emplace(connection.number, std::move(owned));
  // A client that never finishes its request must not hold a connection forever.
  connection.timeout =
      loop_.start_timer(connection_timeout_ms * io::ns_per_ms, [this, &connection] {
        connection.timeout = io::timer_id_none;
        close(connection);
      });
  receive(connection);
}

bool AdminHttp::operation_done(Connection& connection) {
  KEEL_ASSERT(connection.operations_pending > 0);
  connection.operations_pending--;
  if (!connection.closing) return false;
  if (connection.operations_pending == 0) {
    loop_.close_socket(connection.fd);
    connections_.erase(connection.number);
  }
  return true;
}

void AdminHttp::receive(Connection& connection) {
  const size_t received = connection.request.size();
  connection.request.resize(request_size_bytes_max);
  connection.operations_pending++;
  const std::span<uint8_t> space(connection.request.data() + received,
                                 request_size_bytes_max - received);
  loop_.recv(connection.fd, space, [this, &connection, received](int64_t result) {
    connection.request.resize(received + static_cast<size_t>(result > 0 ? result : 0));
    if (operation_done(connection)) return;
    if (result <= 0) {
      close(connection);
      return;
    }
    const std::string_view head(reinterpret_cast<const char*>(connection.request.data()),
                                connection.request.size());
    const std::string path = http_request_path(head);
    if (path == "!") {
      respond(connection, HttpResponse{400, "text/plain; charset=utf-8", "bad request\n"});
    } else if (!path.empty()) {
      respond(connection, handler_(path));
    } else if (connection.request.size() == request_size_bytes_max) {
      respond(connection, HttpResponse{431, "text/plain; charset=utf-8", "request too large\n"});
    } else {
      receive(connection);
    }
  });
}

void AdminHttp::respond(Connection& connection, const HttpResponse& response) {
  requests_served_++;
  const char* reason = response.status == 200   ? "OK"
                       : response.status == 404 ? "Not Found"
                       : response.status == 503 ? "Service Unavailable"
                                                : "Bad Request";
  connection.response.append(fmt::format(
      "HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      response.status, reason, response.content_type, response.body.size(), response.body));
  send_rest(connection);
}

void AdminHttp::send_rest(Connection& connection) {
  const std::span<const uint8_t> rest = connection.response.next();
  if (rest.empty()) {
    close(connection);
    return;
  }
  connection.operations_pending++;
  loop_.send(connection.fd, rest, [this, &connection](int64_t result) {
    if (operation_done(connection)) return;
    if (result <= 0) {
      close(connection);
      return;
    }
    connection.response.sent(static_cast<uint64_t>(result));
    send_rest(connection);
  });
}

void AdminHttp::close(Connection& connection) {
  if (connection.closing) return;
  connection.closing = true;
  loop_.cancel_timer(connection.timeout);
  connection.timeout = io::timer_id_none;
  shutdown(connection.fd, SHUT_RDWR);
  if (connection.operations_pending == 0) {
    const uint64_t number = connection.number;
    loop_.start_timer(0, [this, number] {
      const auto found = connections_.find(number);
      if (found == connections_.end() || found->second->operations_pending > 0) return;
      loop_.close_socket(found->second->fd);
      connections_.erase(found);
    });
  }
}

void AdminHttp::stop() {
  if (stopped_) return;
  stopped_ = true;
  std::vector<Connection*> open;
  for (auto& [number, connection] : connections_) open.push_back(connection.get());
  for (Connection* connection : open) close(*connection);
  listener_->stop();
}

}  // namespace keel::runtime
