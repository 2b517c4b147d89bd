#include "runtime/replica_config.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <variant>

#include "io/assert.h"

namespace keel::runtime {
namespace {

// A key that sets a vsr::Config field of the same name.
struct VsrKey {
  std::string_view section;
  std::string_view key;
  std::variant<uint64_t vsr::Config::*, uint32_t vsr::Config::*> field;
};

const VsrKey vsr_keys[] = {
    {"timeouts", "heartbeat_interval_ms", &vsr::Config::heartbeat_interval_ms},
    {"timeouts", "heartbeat_timeout_ms", &vsr::Config::heartbeat_timeout_ms},
    {"timeouts", "view_change_timeout_ms", &vsr::Config::view_change_timeout_ms},
    {"timeouts", "recovery_timeout_ms", &vsr::Config::recovery_timeout_ms},
    {"clock", "clock_offset_tolerance_ms", &vsr::Config::clock_offset_tolerance_ms},
    {"clock", "clock_sync_window_ms", &vsr::Config::clock_sync_window_ms},
    {"checkpoint", "checkpoint_interval", &vsr::Config::checkpoint_interval},
    {"checkpoint", "checkpoint_retention", &vsr::Config::checkpoint_retention},
    {"repair", "repair_budget", &vsr::Config::repair_budget},
    {"repair", "repair_timeout_ms", &vsr::Config::repair_timeout_ms},
    {"scrubbing", "scrub_budget", &vsr::Config::scrub_budget},
    {"scrubbing", "scrub_interval_ticks", &vsr::Config::scrub_interval_ticks},
    {"storage", "wal_slots", &vsr::Config::wal_slots},
    {"storage", "message_size_bytes_max", &vsr::Config::message_size_bytes_max},
    {"storage", "snapshot_size_bytes_max", &vsr::Config::snapshot_size_bytes_max},
    {"storage", "pipeline_max", &vsr::Config::pipeline_max},
    {"storage", "batch_requests_max", &vsr::Config::batch_requests_max},
    {"storage", "batch_delay_us", &vsr::Config::batch_delay_us},
    {"storage", "request_queue_max", &vsr::Config::request_queue_max},
    {"storage", "clients_max", &vsr::Config::clients_max},
    {"storage", "checkpoint_chunk_bytes", &vsr::Config::checkpoint_chunk_bytes},
};

struct Key {
  std::string_view section;
  std::string_view key;
};

// Every other key (log_path and superblock_path are known only to be refused clearly).
constexpr Key other_keys[] = {
    {"cluster", "cluster_id"},
    {"cluster", "replica_id"},
    {"cluster", "replicas"},
    {"storage", "data_dir"},
    {"storage", "fsync_enabled"},
    {"storage", "log_path"},
    {"storage", "superblock_path"},
    {"metrics", "prometheus_enabled"},
    {"metrics", "prometheus_address"},
    {"metrics", "otel_enabled"},
    {"metrics", "otel_endpoint"},
    {"logging", "level"},
    {"logging", "format"},
    {"logging", "output"},
    {"logging", "log_file"},
    {"io", "backend"},
    {"client", "resp_address"},
    {"client", "connections_max"},
    {"client", "bulk_size_bytes_max"},
};

constexpr std::string_view sections[] = {"cluster",    "storage", "timeouts",  "clock",
                                         "checkpoint", "repair",  "scrubbing", "metrics",
                                         "logging",    "io",      "client"};

bool known_section(std::string_view section) {
  return std::find(std::begin(sections), std::end(sections), section) != std::end(sections);
}

// Every key, vsr::Config's first.
std::vector<Key> all_keys() {
  std::vector<Key> keys;
  for (const VsrKey& entry : vsr_keys) keys.push_back({entry.section, entry.key});
  keys.insert(keys.end(), std::begin(other_keys), std::end(other_keys));
  return keys;
}

std::vector<std::string_view> keys_of(std::string_view section) {
  std::vector<std::string_view> keys;
  for (const Key& entry : all_keys()) {
    if (entry.section == section) keys.push_back(entry.key);
  }
  return keys;
}

bool known_key(std::string_view section, std::string_view key) {
  const std::vector<std::string_view> keys = keys_of(section);
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// Parses "host:port": host an IPv4 literal or localhost (127.0.0.1), port 1..65535. Returns an
// empty string, or what is wrong.
std::string parse_address(std::string_view text, std::string& host, uint16_t& port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return fmt::format("'{}' is not host:port", text);
  host = text.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  in_addr parsed{};
  if (inet_pton(AF_INET, host.c_str(), &parsed) != 1) {
    return fmt::format("'{}': host '{}' is not an IPv4 address or localhost", text,
                       text.substr(0, colon));
  }
  const std::string_view digits = text.substr(colon + 1);
  uint32_t value = 0;
  const auto [end, status] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || status != std::errc{} || end != digits.data() + digits.size() ||
      value < 1 || value > 65535) {
    return fmt::format("'{}': port '{}' is not within 1..65535", text, digits);
  }
  port = static_cast<uint16_t>(value);
  return "";
}

std::string_view trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

// An override's value: TOML syntax, else the text (trimmed) as a string.
toml::table parse_override_value(std::string_view value) {
  try {
    toml::table parsed = toml::parse("v = " + std::string(value));
    if (parsed.size() == 1 && parsed.contains("v")) return parsed;
  } catch (const toml::parse_error&) {
  }
  return toml::table{{"v", std::string(trim(value))}};
}

// Reads a parsed file into a ReplicaFileConfig; the first problem found is the error. Getters
// leave their output alone when the key is absent, so defaults stand.
class ConfigReader {
 public:
  ConfigReader(std::string_view path, toml::table& root, std::string& error)
      : path_(path), root_(root), error_(error) {}

  bool apply_override(const std::string& text);
  bool check_names();
  bool read(ReplicaFileConfig& out);

 private:
  bool fail(std::string_view section, std::string_view key, const toml::source_region& where,
            std::string_view what);
  std::string place(std::string_view section, std::string_view key,
                    const toml::source_region& where) const;
  toml::source_region section_region(std::string_view section) const;
  const toml::node* find(std::string_view section, std::string_view key) const;

  bool check_name(std::string_view section, std::string_view key, const toml::source_region& at);
  bool expect(const toml::node& node, toml::node_type type, std::string_view section,
              std::string_view key);
  bool to_uint(const toml::node& node, std::string_view section, std::string_view key, uint64_t max,
               uint64_t& out);
  bool to_address(const toml::node& node, std::string_view section, std::string_view key,
                  std::string& host, uint16_t& port);
  bool require(std::string_view section, std::string_view key);
  template <typename T>
  bool get_uint(std::string_view section, std::string_view key, T& out);
  bool get_bool(std::string_view section, std::string_view key, bool& out);
  bool get_string(std::string_view section, std::string_view key, std::string& out);
  template <typename T>
  bool get_choice(std::string_view section, std::string_view key,
                  std::initializer_list<std::pair<std::string_view, T>> choices, T& out);

  bool read_cluster(ReplicaFileConfig& out);
  bool read_peer(const toml::node& node, size_t index, PeerAddress& peer);
  bool check_peers(const toml::array& array, std::vector<PeerAddress>& peers);
  bool read_storage(ReplicaFileConfig& out);
  bool read_vsr(vsr::Config& config);
  bool check_vsr(const vsr::Config& config);
  bool read_metrics(ReplicaFileConfig::Metrics& metrics);
  bool read_client(ReplicaFileConfig::Client& client);
  bool read_logging(ReplicaFileConfig::Logging& logging);

  const std::string_view path_;
  toml::table& root_;
  std::string& error_;
  std::string_view applying_;  // the override being applied
  // (section, key) set by an override -> the override's text.
  std::map<std::pair<std::string, std::string>, std::string> overridden_;
};

bool ConfigReader::fail(std::string_view section, std::string_view key,
                        const toml::source_region& where, std::string_view what) {
  const std::string name =
      key.empty() ? fmt::format("[{}]", section) : fmt::format("[{}] {}", section, key);
  error_ = fmt::format("{}: {}: {}", place(section, key, where), name, what);
  return false;
}

// "PATH:LINE:COL", or "PATH: override 'text'" for a key an override set (a key such as
// "replicas[1].id" is inside the override of "replicas").
std::string ConfigReader::place(std::string_view section, std::string_view key,
                                const toml::source_region& where) const {
  if (!applying_.empty()) return fmt::format("{}: override '{}'", path_, applying_);
  const std::pair<std::string, std::string> name{section, key.substr(0, key.find_first_of("[."))};
  if (auto it = overridden_.find(name); it != overridden_.end()) {
    return fmt::format("{}: override '{}'", path_, it->second);
  }
  return fmt::format("{}:{}:{}", path_, std::max<uint32_t>(where.begin.line, 1),
                     std::max<uint32_t>(where.begin.column, 1));
}

// The section's header, for a key it lacks; the file's start if there is no header.
toml::source_region ConfigReader::section_region(std::string_view section) const {
  const toml::node* node = root_.get(section);
  return node == nullptr ? toml::source_region{} : node->source();
}

const toml::node* ConfigReader::find(std::string_view section, std::string_view key) const {
  const toml::table* table = root_.get_as<toml::table>(section);
  return table == nullptr ? nullptr : table->get(key);
}

bool ConfigReader::apply_override(const std::string& text) {
  const size_t equals = text.find('=');
  const size_t dot = text.find('.');
  if (equals == std::string::npos || dot == std::string::npos || dot == 0 || dot + 1 >= equals) {
    error_ = fmt::format("{}: override '{}': expected section.key=value", path_, text);
    return false;
  }
  const std::string section(trim(std::string_view(text).substr(0, dot)));
  const std::string key(trim(std::string_view(text).substr(dot + 1, equals - dot - 1)));
  applying_ = text;
  if (!check_name(section, key, {})) return false;
  toml::node* node = root_.get(section);
  if (node == nullptr) node = &root_.insert(section, toml::table{}).first->second;
  if (!expect(*node, toml::node_type::table, section, "")) return false;
  toml::table value = parse_override_value(text.substr(equals + 1));
  node->as_table()->insert_or_assign(key, std::move(*value.get("v")));
  overridden_[{section, key}] = text;
  applying_ = {};
  return true;
}

bool ConfigReader::check_name(std::string_view section, std::string_view key,
                              const toml::source_region& at) {
  if (!known_section(section)) {
    return fail(section, "", at,
                fmt::format("unknown section (known: {})", fmt::join(sections, ", ")));
  }
  if (known_key(section, key)) return true;
  return fail(section, key, at,
              fmt::format("unknown key (known: {})", fmt::join(keys_of(section), ", ")));
}

bool ConfigReader::check_names() {
  for (const auto& [section, node] : root_) {
    if (!known_section(section.str())) return check_name(section.str(), "", section.source());
    if (!expect(node, toml::node_type::table, section.str(), "")) return false;
    for (const auto& [key, value] : *node.as_table()) {
      if (!check_name(section.str(), key.str(), key.source())) return false;
    }
  }
  return true;
}

bool ConfigReader::expect(const toml::node& node, toml::node_type type, std::string_view section,
                          std::string_view key) {
  if (node.type() == type) return true;
  return fail(section, key, node.source(),
              fmt::format("expected {}, got {}", type_name(type), type_name(node.type())));
}

bool ConfigReader::to_uint(const toml::node& node, std::string_view section, std::string_view key,
                           uint64_t max, uint64_t& out) {
  if (!expect(node, toml::node_type::integer, section, key)) return false;
  const int64_t value = node.as_integer()->get();
  if (value < 0) return fail(section, key, node.source(), fmt::format("{} is negative", value));
  if (static_cast<uint64_t>(value) > max) {
    return fail(section, key, node.source(), fmt::format("{} exceeds {}", value, max));
  }
  out = static_cast<uint64_t>(value);
  return true;
}

bool ConfigReader::to_address(const toml::node& node, std::string_view section,
                              std::string_view key, std::string& host, uint16_t& port) {
  if (!expect(node, toml::node_type::string, section, key)) return false;
  const std::string what = parse_address(node.as_string()->get(), host, port);
  return what.empty() || fail(section, key, node.source(), what);
}

bool ConfigReader::require(std::string_view section, std::string_view key) {
  if (find(section, key) != nullptr) return true;
  return fail(section, key, section_region(section), "required key is missing");
}

template <typename T>
bool ConfigReader::get_uint(std::string_view section, std::string_view key, T& out) {
  const toml::node* node = find(section, key);
  uint64_t value = 0;
  if (node == nullptr) return true;
  if (!to_uint(*node, section, key, std::numeric_limits<T>::max(), value)) return false;
  out = static_cast<T>(value);
  return true;
}

bool ConfigReader::get_bool(std::string_view section, std::string_view key, bool& out) {
  const toml::node* node = find(section, key);
  if (node == nullptr) return true;
  if (!expect(*node, toml::node_type::boolean, section, key)) return false;
  out = node->as_boolean()->get();
  return true;
}

bool ConfigReader::get_string(std::string_view section, std::string_view key, std::string& out) {
  const toml::node* node = find(section, key);
  if (node == nullptr) return true;
  if (!expect(*node, toml::node_type::string, section, key)) return false;
  out = node->as_string()->get();
  return true;
}

template <typename T>
bool ConfigReader::get_choice(std::string_view section, std::string_view key,
                              std::initializer_list<std::pair<std::string_view, T>> choices,
                              T& out) {
  std::string text;
  if (!get_string(section, key, text)) return false;
  if (find(section, key) == nullptr) return true;
  std::vector<std::string_view> names;
  for (const auto& [name, value] : choices) {
    if (name == text) {
      out = value;
      return true;
    }
    names.push_back(name);
  }
  return fail(section, key, find(section, key)->source(),
              fmt::format("'{}' is not one of {}", text, fmt::join(names, ", ")));
}

bool ConfigReader::read_cluster(ReplicaFileConfig& out) {
  if (!require("cluster", "cluster_id") || !get_uint("cluster", "cluster_id", out.cluster_id) ||
      !require("cluster", "replica_id") || !get_uint("cluster", "replica_id", out.replica_id) ||
      !require("cluster", "replicas")) {
    return false;
  }
  const toml::node& node = *find("cluster", "replicas");
  if (!expect(node, toml::node_type::array, "cluster", "replicas")) return false;
  const toml::array& array = *node.as_array();
  if (array.empty()) return fail("cluster", "replicas", node.source(), "lists no replicas");
  out.replicas.resize(array.size());
  for (size_t i = 0; i < array.size(); i++) {
    if (!read_peer(array[i], i, out.replicas[i])) return false;
  }
  if (!check_peers(array, out.replicas)) return false;
  if (out.replica_id < out.replicas.size()) return true;
  return fail("cluster", "replica_id", find("cluster", "replica_id")->source(),
              fmt::format("replica {} is not in replicas (ids 0..{})", out.replica_id,
                          out.replicas.size() - 1));
}

bool ConfigReader::read_peer(const toml::node& node, size_t index, PeerAddress& peer) {
  const std::string key = fmt::format("replicas[{}]", index);
  if (!expect(node, toml::node_type::table, "cluster", key)) return false;
  const toml::table& entry = *node.as_table();
  for (const auto& [name, value] : entry) {
    if (name != "id" && name != "address") {
      return fail("cluster", key + "." + std::string(name.str()), name.source(),
                  "unknown key (known: id, address)");
    }
  }
  for (const char* name : {"id", "address"}) {
    if (!entry.contains(name)) {
      return fail("cluster", key + "." + name, node.source(), "required key is missing");
    }
  }
  uint64_t id = 0;
  if (!to_uint(*entry.get("id"), "cluster", key + ".id", UINT32_MAX, id)) return false;
  peer.id = static_cast<uint32_t>(id);
  return to_address(*entry.get("address"), "cluster", key + ".address", peer.host, peer.port);
}

// Ids are 0..n-1, each once (n distinct ids below n), and no address is listed twice. Sorts
// peers by id.
bool ConfigReader::check_peers(const toml::array& array, std::vector<PeerAddress>& peers) {
  for (size_t i = 0; i < peers.size(); i++) {
    const toml::table& entry = *array[i].as_table();
    const std::string key = fmt::format("replicas[{}]", i);
    if (peers[i].id >= peers.size()) {
      return fail("cluster", key + ".id", entry.get("id")->source(),
                  fmt::format("id {} is outside 0..{}: {} replicas have ids 0..{}", peers[i].id,
                              peers.size() - 1, peers.size(), peers.size() - 1));
    }
    for (size_t j = 0; j < i; j++) {
      if (peers[j].id == peers[i].id) {
        return fail("cluster", key + ".id", entry.get("id")->source(),
                    fmt::format("replica {} is listed twice (replicas[{}] too)", peers[i].id, j));
      }
      if (peers[j].host == peers[i].host && peers[j].port == peers[i].port) {
        return fail(
            "cluster", key + ".address", entry.get("address")->source(),
            fmt::format("{}:{} is replicas[{}]'s address too", peers[i].host, peers[i].port, j));
      }
    }
  }
  std::sort(peers.begin(), peers.end(),
            [](const PeerAddress& a, const PeerAddress& b) { return a.id < b.id; });
  return true;
}

bool ConfigReader::read_storage(ReplicaFileConfig& out) {
  for (std::string_view key : {"log_path", "superblock_path"}) {
    if (const toml::node* node = find("storage", key)) {
      return fail("storage", key, node->source(),
                  "keel keeps the WAL and superblock in one data file (<data_dir>/keel.data); "
                  "remove the key");
    }
  }
  bool fsync_enabled = true;
  if (!get_bool("storage", "fsync_enabled", fsync_enabled)) return false;
  if (!fsync_enabled) {
    return fail("storage", "fsync_enabled", find("storage", "fsync_enabled")->source(),
                "keel is always durable: every write is synced before it is acknowledged; "
                "remove the key or set it to true");
  }
  if (!require("storage", "data_dir") || !get_string("storage", "data_dir", out.data_dir)) {
    return false;
  }
  if (!out.data_dir.empty()) return true;
  return fail("storage", "data_dir", find("storage", "data_dir")->source(), "is empty");
}

bool ConfigReader::read_vsr(vsr::Config& config) {
  for (const VsrKey& entry : vsr_keys) {
    auto get = [&](auto field) { return get_uint(entry.section, entry.key, config.*field); };
    if (!std::visit(get, entry.field)) return false;
  }
  // A chunk travels in one message: unless set, it follows a smaller message size down (as
  // `keel format` does).
  if (find("storage", "checkpoint_chunk_bytes") == nullptr) {
    config.checkpoint_chunk_bytes =
        std::min(config.checkpoint_chunk_bytes, config.message_size_bytes_max);
  }
  return true;
}

// Reports vsr::Config::validate's message at the key it is about: of the keys it names, the
// first one the file sets, else the first one it names ("replica_count" is [cluster] replicas).
bool ConfigReader::check_vsr(const vsr::Config& config) {
  const std::string what = config.validate();
  if (what.empty()) return true;
  std::optional<Key> blamed;
  std::pair<bool, size_t> blamed_rank{true, std::string::npos};  // (absent, position)
  auto consider = [&](const Key& key, std::string_view name) {
    const std::pair<bool, size_t> rank{find(key.section, key.key) == nullptr, what.find(name)};
    if (rank.second != std::string::npos && rank < blamed_rank) {
      blamed = key;
      blamed_rank = rank;
    }
  };
  consider({"cluster", "replicas"}, "replica_count");
  for (const VsrKey& entry : vsr_keys) consider({entry.section, entry.key}, entry.key);
  if (!blamed) {
    error_ = fmt::format("{}: {}", path_, what);
    return false;
  }
  const toml::node* node = find(blamed->section, blamed->key);
  return fail(blamed->section, blamed->key,
              node == nullptr ? section_region(blamed->section) : node->source(), what);
}

bool ConfigReader::read_metrics(ReplicaFileConfig::Metrics& metrics) {
  if (!get_bool("metrics", "prometheus_enabled", metrics.prometheus_enabled)) return false;
  if (const toml::node* node = find("metrics", "prometheus_address")) {
    if (!to_address(*node, "metrics", "prometheus_address", metrics.prometheus_host,
                    metrics.prometheus_port)) {
      return false;
    }
  }
  bool otel_enabled = false;
  std::string otel_endpoint;  // accepted, unused
  if (!get_bool("metrics", "otel_enabled", otel_enabled) ||
      !get_string("metrics", "otel_endpoint", otel_endpoint)) {
    return false;
  }
  if (!otel_enabled) return true;
  return fail("metrics", "otel_enabled", find("metrics", "otel_enabled")->source(),
              "OpenTelemetry export is not supported; keel exports metrics through Prometheus");
}

// [client]: the Redis-compatible port. Absent resp_address: no RESP listener.
bool ConfigReader::read_client(ReplicaFileConfig::Client& client) {
  if (const toml::node* node = find("client", "resp_address")) {
    client.resp_enabled = true;
    if (!to_address(*node, "client", "resp_address", client.resp_host, client.resp_port)) {
      return false;
    }
  }
  if (!get_uint("client", "connections_max", client.connections_max) ||
      !get_uint("client", "bulk_size_bytes_max", client.bulk_size_bytes_max)) {
    return false;
  }
  if (client.connections_max == 0) {
    return fail("client", "connections_max", find("client", "connections_max")->source(),
                "must be positive");
  }
  if (client.bulk_size_bytes_max < 1024) {
    return fail("client", "bulk_size_bytes_max", find("client", "bulk_size_bytes_max")->source(),
                "must be at least 1024");
  }
  return true;
}

bool ConfigReader::read_logging(ReplicaFileConfig::Logging& logging) {
  if (!get_choice<LogLevel>("logging", "level",
                            {{"trace", LogLevel::trace},
                             {"debug", LogLevel::debug},
                             {"info", LogLevel::info},
                             {"warn", LogLevel::warn},
                             {"error", LogLevel::error}},
                            logging.level) ||
      !get_choice<LogFormat>("logging", "format",
                             {{"json", LogFormat::json}, {"pretty", LogFormat::pretty}},
                             logging.format) ||
      !get_choice<bool>("logging", "output", {{"stdout", false}, {"file", true}},
                        logging.to_file) ||
      !get_string("logging", "log_file", logging.log_file)) {
    return false;
  }
  if (!logging.to_file || !logging.log_file.empty()) return true;
  const toml::node* node = find("logging", "log_file");
  if (node == nullptr) node = find("logging", "output");
  return fail("logging", "log_file", node->source(), "required (not empty) when output = \"file\"");
}

bool ConfigReader::read(ReplicaFileConfig& out) {
  if (!read_cluster(out) || !read_storage(out) || !read_vsr(out.vsr) ||
      !read_metrics(out.metrics) || !read_client(out.client) || !read_logging(out.logging) ||
      !get_choice<IoBackendChoice>("io", "backend",
                                   {{"auto", IoBackendChoice::automatic},
                                    {"uring", IoBackendChoice::uring},
                                    {"epoll", IoBackendChoice::epoll}},
                                   out.io_backend)) {
    return false;
  }
  out.vsr.replica_count = static_cast<uint32_t>(out.replicas.size());
  return check_vsr(out.vsr);
}

}  // namespace

std::string ReplicaFileConfig::data_file_path() const {
  KEEL_ASSERT(!data_dir.empty());
  return data_dir + (data_dir.ends_with('/') ? "" : "/") + "keel.data";
}

const PeerAddress& ReplicaFileConfig::listen_address() const {
  KEEL_ASSERT(replica_id < replicas.size());
  KEEL_ASSERT(replicas[replica_id].id == replica_id);
  return replicas[replica_id];
}

bool parse_replica_config(std::string_view text, std::string_view path,
                          const std::vector<std::string>& overrides, ReplicaFileConfig& out,
                          std::string& error) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    error = fmt::format("{}:{}:{}: TOML syntax error: {}", path, e.source().begin.line,
                        e.source().begin.column, e.description());
    return false;
  }
  out = ReplicaFileConfig{};
  ConfigReader reader(path, root, error);
  for (const std::string& text : overrides) {
    if (!reader.apply_override(text)) return false;
  }
  return reader.check_names() && reader.read(out);
}

bool load_replica_config(const std::string& path, const std::vector<std::string>& overrides,
                         ReplicaFileConfig& out, std::string& error) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  std::string text;
  if (file != nullptr) {
    char buffer[4096];
    size_t size;
    while ((size = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, size);
  }
  if (file == nullptr || std::ferror(file)) {
    error = fmt::format("{}: cannot read the configuration file: {}", path, std::strerror(errno));
    if (file != nullptr) std::fclose(file);
    return false;
  }
  std::fclose(file);
  return parse_replica_config(text, path, overrides, out, error);
}

}  // namespace keel::runtime
