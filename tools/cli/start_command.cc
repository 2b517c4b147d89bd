// `keel start --config keel.toml`: runs one replica until SIGTERM or SIGINT
// (docs/operations.md).

#include <fmt/format.h>

#include <string>
#include <vector>

#include "io/assert.h"
#include "runtime/logger.h"
#include "runtime/replica_config.h"
#include "runtime/replica_server.h"
#include "runtime/tcp_bus.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"

namespace keel::cli {

namespace {

sockaddr_in address_of(const std::string& host, uint16_t port) {
  sockaddr_in address{};
  const bool parsed = runtime::parse_ipv4_address(fmt::format("{}:{}", host, port), address);
  // The config parser accepted it already.
  KEEL_ASSERT(parsed);
  return address;
}

runtime::ReplicaServerOptions server_options(const runtime::ReplicaFileConfig& config) {
  runtime::ReplicaServerOptions options;
  options.cluster_id = config.cluster_id;
  options.replica = config.replica_id;
  for (const runtime::PeerAddress& peer : config.replicas) {
    options.replica_addresses.push_back(address_of(peer.host, peer.port));
  }
  options.data_file_path = config.data_file_path();
  options.config = config.vsr;
  switch (config.io_backend) {
    case runtime::IoBackendChoice::automatic:
      break;
    case runtime::IoBackendChoice::uring:
      options.backend = runtime::Backend::uring;
      break;
    case runtime::IoBackendChoice::epoll:
      options.backend = runtime::Backend::epoll;
      break;
  }
  options.metrics_enabled = config.metrics.prometheus_enabled;
  options.metrics_address =
      address_of(config.metrics.prometheus_host, config.metrics.prometheus_port);
  options.resp_enabled = config.client.resp_enabled;
  if (options.resp_enabled) {
    options.resp_address = address_of(config.client.resp_host, config.client.resp_port);
  }
  options.resp_connections_max = config.client.connections_max;
  options.resp_bulk_size_bytes_max = config.client.bulk_size_bytes_max;
  return options;
}

}  // namespace

int start_command(const std::vector<std::string>& args) {
  std::string config_path;
  std::vector<std::string> overrides;
  ArgReader reader(args);
  while (!reader.done()) {
    const std::string flag = reader.next();
    if (flag == "--config") {
      config_path = reader.value(flag);
    } else if (flag == "--set") {
      overrides.push_back(reader.value(flag));
    } else if (flag == "--io") {
      overrides.push_back("io.backend=" + reader.value(flag));
    } else if (flag == "--replica-id") {
      overrides.push_back("cluster.replica_id=" + reader.value(flag));
    } else {
      throw UsageError(fmt::format("unknown flag '{}'", flag));
    }
  }
  if (config_path.empty()) throw UsageError("--config FILE is required");

  runtime::ReplicaFileConfig config;
  std::string error;
  if (!runtime::load_replica_config(config_path, overrides, config, error)) {
    fmt::print(stderr, "keel start: {}\n", error);
    return exit_usage;
  }
  runtime::Logger logger;
  const std::string log_error = logger.open(config.logging.level, config.logging.format,
                                            config.logging.to_file ? config.logging.log_file : "");
  if (!log_error.empty()) {
    fmt::print(stderr, "keel start: [logging] log_file: {}\n", log_error);
    return exit_usage;
  }
  const int status = runtime::run_replica_server(server_options(config), logger);
  if (status != 0) {
    fmt::print(stderr, "keel start: replica {} did not start; the log says why{}\n",
               config.replica_id,
               config.logging.to_file ? " (" + config.logging.log_file + ")" : "");
  }
  return status;
}

}  // namespace keel::cli
