#pragma once
// The replica's configuration file, `keel start --config keel.toml` (docs/vsr.md,
// "Configuration", for the sections and keys; keel adds [cluster] cluster_id, the [storage]
// sizes of vsr::Config and [io] backend). Flags may override keys: each override is
// "section.key=value" with a TOML value, or a bare word taken as a string.
//
// Every error is one line naming the file, where, the section and key, and what is wrong:
//   keel.toml:12:25: [timeouts] heartbeat_interval_ms: expected an integer, got a string
// An override's place is "override 'text'" instead of LINE:COL.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/vsr/config.h"
#include "runtime/logger.h"

namespace keel::runtime {

enum class IoBackendChoice { automatic, uring, epoll };  // "auto", "uring", "epoll"

struct PeerAddress {
  uint32_t id = 0;
  std::string host;  // an IPv4 literal ("localhost" is resolved to 127.0.0.1)
  uint16_t port = 0;
};

struct ReplicaFileConfig {
  struct Metrics {
    bool prometheus_enabled = true;
    std::string prometheus_host = "127.0.0.1";
    uint16_t prometheus_port = 9090;
  };
  struct Client {
    bool resp_enabled = false;  // set by resp_address
    std::string resp_host;
    uint16_t resp_port = 0;
    uint32_t connections_max = 1024;
    uint64_t bulk_size_bytes_max = 1 << 20;
  };
  struct Logging {
    LogLevel level = LogLevel::info;
    LogFormat format = LogFormat::pretty;
    bool to_file = false;
    std::string log_file;  // set when to_file
  };

  uint64_t cluster_id = 0;
  uint32_t replica_id = 0;
  std::vector<PeerAddress> replicas;  // replicas[i].id == i; vsr.replica_count == replicas.size()
  std::string data_dir;
  vsr::Config vsr;  // validated
  Metrics metrics;
  Client client;
  Logging logging;
  IoBackendChoice io_backend = IoBackendChoice::automatic;

  // <data_dir>/keel.data: the WAL, superblock and checkpoints in one file.
  std::string data_file_path() const;
  // This replica's own address, replicas[replica_id].
  const PeerAddress& listen_address() const;
};

// Parses a configuration file's text; path is used only in messages. On error returns false
// and sets error to one line; out is then unspecified.
bool parse_replica_config(std::string_view text, std::string_view path,
                          const std::vector<std::string>& overrides, ReplicaFileConfig& out,
                          std::string& error);

// Reads path and parses it; an unreadable file is an error too.
bool load_replica_config(const std::string& path, const std::vector<std::string>& overrides,
                         ReplicaFileConfig& out, std::string& error);

}  // namespace keel::runtime
