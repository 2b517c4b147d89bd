#pragma once
// The Redis-compatible front door of a replica process (docs/operations.md, "Redis clients"):
// each accepted connection is a resp::RespSession (the same code the simulator runs) over its
// own VSR client session, which reaches the primary wherever it is and rides out view changes.

#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "core/vsr/config.h"
#include "runtime/listener.h"
#include "runtime/local_route.h"
#include "runtime/loop.h"
#include "workloads/resp/resp_session.h"

namespace keel::runtime {

struct RespServerOptions {
  uint64_t cluster_id = 0;
  std::vector<sockaddr_in> replica_addresses;
  vsr::Config config;  // the cluster's, for the client sessions
  resp::RespSessionOptions session;
  uint32_t connections_max = 1024;
  // The local replica's route (runtime/local_route.h), or nullptr: sessions then reach every
  // replica, their own included, over TCP. Must outlive the server.
  LocalRoute* local_route = nullptr;
  io::NodeId local_replica = io::node_id_none;
};

struct RespServerCounters {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;  // over connections_max
  uint64_t protocol_errors = 0;      // connections closed for a malformed request
};

class RespServer {
 public:
  using Info = absl::AnyInvocable<std::string()>;
  // The local replica's view: new sessions start there, so their first request finds the
  // primary at once.
  using ViewHint = absl::AnyInvocable<uint64_t()>;

  // nullptr with error set if the address cannot be listened on.
  static std::unique_ptr<RespServer> create(Loop& loop, const sockaddr_in& address,
                                            const RespServerOptions& options, Info info,
                                            ViewHint view_hint, std::string& error);
  ~RespServer();
  RespServer(const RespServer&) = delete;
  RespServer& operator=(const RespServer&) = delete;

  void stop();
  bool idle() const;
  size_t connections() const { return connections_.size(); }
  const RespServerCounters& counters() const { return counters_; }

  struct Connection;

 private:
  RespServer(Loop& loop, const RespServerOptions& options, Info info, ViewHint view_hint);
  void accepted(int fd);
  void receive(Connection& connection);
  void progress(Connection& connection);
  void flush(Connection& connection);
  void close(Connection& connection);
  bool operation_done(Connection& connection);
  void reap();

  Loop& loop_;
  const RespServerOptions options_;
  Info info_;
  ViewHint view_hint_;
  std::unique_ptr<Listener> listener_;
  RespServerCounters counters_;
  bool stopped_ = false;
  uint64_t connection_next_ = 1;
  io::TimerId reap_timer_ = io::timer_id_none;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
};

}  // namespace keel::runtime
