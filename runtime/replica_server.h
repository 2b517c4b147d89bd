#pragma once
// A VSR replica as a real process (`keel start`, docs/operations.md): the unchanged core/vsr
// replica and the KV state machine on the runtime's loop, data file and TCP bus, with the admin
// HTTP endpoint, the log and signals. run_replica_server returns when SIGTERM or SIGINT asks it
// to stop.

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/vsr/config.h"
#include "runtime/logger.h"
#include "runtime/loop.h"

namespace keel::runtime {

struct ReplicaServerOptions {
  uint64_t cluster_id = 0;
  uint32_t replica = 0;
  std::vector<sockaddr_in> replica_addresses;  // index: replica
  std::string data_file_path;
  vsr::Config config;
  std::optional<Backend> backend;  // none: io_uring where the probe passes, else epoll
  bool metrics_enabled = true;
  sockaddr_in metrics_address{};
  // The Redis-compatible port ([client] in the config).
  bool resp_enabled = false;
  sockaddr_in resp_address{};
  uint32_t resp_connections_max = 1024;
  uint64_t resp_bulk_size_bytes_max = 1 << 20;
};

// The process's exit code: 0 after a clean stop, 2 if it could not start (the log says why).
int run_replica_server(const ReplicaServerOptions& options, Logger& logger);

}  // namespace keel::runtime
