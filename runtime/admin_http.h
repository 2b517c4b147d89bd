#pragma once
// The admin endpoint on the metrics address: a minimal HTTP/1.0 server on the runtime's loop for
// GET /metrics, /health/live and /health/ready (docs/operations.md). One request a connection;
// the connection closes after the response. Bounded: request size, connections at once, and
// time a connection may take.

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "runtime/listener.h"
#include "runtime/loop.h"

namespace keel::runtime {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminHttp {
 public:
  using Handler = absl::AnyInvocable<HttpResponse(std::string_view path)>;

  static constexpr uint64_t request_size_bytes_max = 8 * 1024;
  static constexpr uint32_t connections_max = 64;
  static constexpr uint64_t connection_timeout_ms = 5000;

  // nullptr with error set if the address cannot be listened on.
  static std::unique_ptr<AdminHttp> create(Loop& loop, const sockaddr_in& address, Handler handler,
                                           std::string& error);
  ~AdminHttp();
  AdminHttp(const AdminHttp&) = delete;
  AdminHttp& operator=(const AdminHttp&) = delete;

  // Stops accepting and closes every connection; idle() once the loop has completed them.
  void stop();
  bool idle() const { return connections_.empty() && listener_->idle(); }
  uint64_t requests_served() const { return requests_served_; }

  struct Connection;

 private:
  AdminHttp(Loop& loop, Handler handler);
  void accepted(int fd);
  void receive(Connection& connection);
  void respond(Connection& connection, const HttpResponse& response);
  void send_rest(Connection& connection);
  void close(Connection& connection);
  bool operation_done(Connection& connection);

  Loop& loop_;
  Handler handler_;
  std::unique_ptr<Listener> listener_;
  bool stopped_ = false;
  uint64_t connection_next_ = 1;
  uint64_t requests_served_ = 0;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
};

// The request line's target if the request is a complete "GET <path> HTTP/1.x" head, "" if more
// bytes are needed, or "!" if it can never be served (not GET, malformed).
std::string http_request_path(std::string_view head);

}  // namespace keel::runtime
