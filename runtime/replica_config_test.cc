// Tests of the replica configuration file: a full file, defaults, every kind of error (each
// must name its key and line), and overrides.

#include "runtime/replica_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace keel::runtime {
namespace {

// The deployment guide's example (docs/vsr.md, "Configuration") on loopback, with keel's
// additions and without the guide's log_path and superblock_path.
constexpr std::string_view guide_example = R"(# keel.toml
[cluster]
cluster_id = 42
replica_id = 1
replicas = [
    { id = 0, address = "127.0.0.1:7000" },
    { id = 1, address = "127.0.0.1:7001" },
    { id = 2, address = "localhost:7002" },
]

[storage]
data_dir = "/var/lib/keel/"
fsync_enabled = true
wal_slots = 20000
pipeline_max = 4

[timeouts]
heartbeat_interval_ms = 100
heartbeat_timeout_ms = 300
view_change_timeout_ms = 500
recovery_timeout_ms = 5000

[clock]
clock_offset_tolerance_ms = 100
clock_sync_window_ms = 5000

[checkpoint]
checkpoint_interval = 10000
checkpoint_retention = 3

[repair]
repair_budget = 10
repair_timeout_ms = 500

[scrubbing]
scrub_budget = 100
scrub_interval_ticks = 10

[metrics]
prometheus_enabled = true
prometheus_address = "0.0.0.0:9091"
otel_enabled = false
otel_endpoint = "http://otel-collector:4317"

[logging]
level = "warn"
format = "json"
output = "file"
log_file = "/var/log/keel/vsr.log"

[io]
backend = "epoll"
)";

// The least a file must say: lines 1 to 10.
constexpr std::string_view minimal = R"([cluster]
cluster_id = 7
replica_id = 1
replicas = [
  { id = 0, address = "127.0.0.1:7000" },
  { id = 1, address = "127.0.0.1:7001" },
  { id = 2, address = "127.0.0.1:7002" },
]
[storage]
data_dir = "/tmp/keel"
)";

// minimal, then more lines from line 11 on (they continue [storage] until a new header).
std::string minimal_and(std::string_view more) { return std::string(minimal) + std::string(more); }

// A file whose [cluster] lists replicas (one per line from line 5 on) and names replica 0.
std::string cluster_of(std::string_view replicas) {
  return "[cluster]\ncluster_id = 1\nreplica_id = 0\nreplicas = [\n" + std::string(replicas) +
         "]\n[storage]\ndata_dir = \"/tmp/keel\"\n";
}

testing::AssertionResult parses(std::string_view text, ReplicaFileConfig& config,
                                const std::vector<std::string>& overrides = {}) {
  std::string error;
  if (parse_replica_config(text, "keel.toml", overrides, config, error)) {
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << error;
}

// Whether text fails with one line that starts at place and names name ("[section] key").
testing::AssertionResult fails_at(std::string_view text, std::string_view place,
                                  std::string_view name,
                                  const std::vector<std::string>& overrides = {}) {
  ReplicaFileConfig config;
  std::string error;
  if (parse_replica_config(text, "keel.toml", overrides, config, error)) {
    return testing::AssertionFailure() << "parsed";
  }
  if (error.find('\n') != std::string::npos) {
    return testing::AssertionFailure() << "more than one line: " << error;
  }
  if (!error.starts_with(place) || error.find(std::string(name) + ":") == std::string::npos) {
    return testing::AssertionFailure() << error;
  }
  return testing::AssertionSuccess() << error;
}

TEST(ReplicaConfig, GuideExampleParses) {
  ReplicaFileConfig config;
  ASSERT_TRUE(parses(guide_example, config));
  EXPECT_EQ(config.cluster_id, 42u);
  EXPECT_EQ(config.replica_id, 1u);
  ASSERT_EQ(config.replicas.size(), 3u);
  for (uint32_t id = 0; id < 3; id++) {
    EXPECT_EQ(config.replicas[id].id, id);
    EXPECT_EQ(config.replicas[id].host, "127.0.0.1");
    EXPECT_EQ(config.replicas[id].port, 7000 + id);
  }
  EXPECT_EQ(config.listen_address().port, 7001);
  EXPECT_EQ(config.data_dir, "/var/lib/keel/");
  EXPECT_EQ(config.data_file_path(), "/var/lib/keel/keel.data");
  EXPECT_EQ(config.vsr.replica_count, 3u);
  EXPECT_EQ(config.vsr.wal_slots, 20000u);
  EXPECT_EQ(config.vsr.pipeline_max, 4u);
  EXPECT_EQ(config.vsr.heartbeat_interval_ms, 100u);
  EXPECT_EQ(config.vsr.heartbeat_timeout_ms, 300u);
  EXPECT_EQ(config.vsr.view_change_timeout_ms, 500u);
  EXPECT_EQ(config.vsr.recovery_timeout_ms, 5000u);
  EXPECT_EQ(config.vsr.clock_offset_tolerance_ms, 100u);
  EXPECT_EQ(config.vsr.clock_sync_window_ms, 5000u);
  EXPECT_EQ(config.vsr.checkpoint_interval, 10000u);
  EXPECT_EQ(config.vsr.checkpoint_retention, 3u);
  EXPECT_EQ(config.vsr.repair_budget, 10u);
  EXPECT_EQ(config.vsr.repair_timeout_ms, 500u);
  EXPECT_EQ(config.vsr.scrub_budget, 100u);
  EXPECT_EQ(config.vsr.scrub_interval_ticks, 10u);
  EXPECT_TRUE(config.metrics.prometheus_enabled);
  EXPECT_EQ(config.metrics.prometheus_host, "0.0.0.0");
  EXPECT_EQ(config.metrics.prometheus_port, 9091);
  EXPECT_EQ(config.logging.level, LogLevel::warn);
  EXPECT_EQ(config.logging.format, LogFormat::json);
  EXPECT_TRUE(config.logging.to_file);
  EXPECT_EQ(config.logging.log_file, "/var/log/keel/vsr.log");
  EXPECT_EQ(config.io_backend, IoBackendChoice::epoll);
}

TEST(ReplicaConfig, DefaultsWhereSectionsAreAbsent) {
  ReplicaFileConfig config;
  ASSERT_TRUE(parses(minimal, config));
  vsr::Config expected;
  expected.replica_count = 3;
  EXPECT_EQ(config.data_file_path(), "/tmp/keel/keel.data");
  EXPECT_EQ(config.vsr.heartbeat_interval_ms, expected.heartbeat_interval_ms);
  EXPECT_EQ(config.vsr.clock_sync_window_ms, expected.clock_sync_window_ms);
  EXPECT_EQ(config.vsr.checkpoint_interval, expected.checkpoint_interval);
  EXPECT_EQ(config.vsr.wal_slots, expected.wal_slots);
  EXPECT_EQ(config.vsr.message_size_bytes_max, expected.message_size_bytes_max);
  EXPECT_EQ(config.vsr.replica_count, 3u);
  EXPECT_TRUE(config.metrics.prometheus_enabled);
  EXPECT_EQ(config.metrics.prometheus_host, "127.0.0.1");
  EXPECT_EQ(config.metrics.prometheus_port, 9090);
  EXPECT_EQ(config.logging.level, LogLevel::info);
  EXPECT_EQ(config.logging.format, LogFormat::pretty);
  EXPECT_FALSE(config.logging.to_file);
  EXPECT_EQ(config.io_backend, IoBackendChoice::automatic);
}

TEST(ReplicaConfig, CheckpointChunkFollowsASmallerMessageSizeUnlessSet) {
  ReplicaFileConfig config;
  ASSERT_TRUE(parses(minimal_and("message_size_bytes_max = 65536\n"), config));
  EXPECT_EQ(config.vsr.checkpoint_chunk_bytes, 65536u);
  EXPECT_TRUE(
      fails_at(minimal_and("message_size_bytes_max = 65536\ncheckpoint_chunk_bytes = 131072\n"),
               "keel.toml:", "checkpoint_chunk_bytes"));
}

TEST(ReplicaConfig, ClientSectionEnablesTheRedisPort) {
  ReplicaFileConfig config;
  ASSERT_TRUE(parses(minimal, config));
  EXPECT_FALSE(config.client.resp_enabled);
  ASSERT_TRUE(parses(minimal_and("[client]\nresp_address = \"127.0.0.1:6379\"\n"
                                 "connections_max = 10\n"),
                     config));
  EXPECT_TRUE(config.client.resp_enabled);
  EXPECT_EQ(config.client.resp_port, 6379);
  EXPECT_EQ(config.client.connections_max, 10u);
  EXPECT_TRUE(fails_at(minimal_and("[client]\nresp_address = \"nowhere\"\n"),
                       "keel.toml:12:", "[client] resp_address"));
  EXPECT_TRUE(fails_at(minimal_and("[client]\nconnections_max = 0\n"),
                       "keel.toml:12:", "[client] connections_max"));
}

TEST(ReplicaConfig, ReplicasListedOutOfOrderAreSortedById) {
  ReplicaFileConfig config;
  ASSERT_TRUE(parses(cluster_of("{ id = 1, address = \"127.0.0.1:7001\" },\n"
                                "{ id = 0, address = \"127.0.0.1:7000\" },\n"),
                     config));
  ASSERT_EQ(config.replicas.size(), 2u);
  EXPECT_EQ(config.replicas[0].port, 7000);
  EXPECT_EQ(config.listen_address().port, 7000);
}

TEST(ReplicaConfig, SyntaxError) {
  EXPECT_TRUE(fails_at(minimal_and("wal_slots = = 3\n"), "keel.toml:11:", "TOML syntax error"));
}

TEST(ReplicaConfig, UnknownSection) {
  EXPECT_TRUE(fails_at(minimal_and("[network]\nport = 1\n"), "keel.toml:11:", "[network]"));
}

TEST(ReplicaConfig, UnknownKey) {
  EXPECT_TRUE(fails_at(minimal_and("[timeouts]\nheartbeat_ms = 5\n"),
                       "keel.toml:12:", "[timeouts] heartbeat_ms"));
  EXPECT_TRUE(fails_at(cluster_of("{ id = 0, address = \"127.0.0.1:1\", port = 2 },\n"),
                       "keel.toml:5:", "[cluster] replicas[0].port"));
}

TEST(ReplicaConfig, WrongTypes) {
  EXPECT_TRUE(fails_at(minimal_and("[timeouts]\nheartbeat_interval_ms = \"100\"\n"),
                       "keel.toml:12:", "[timeouts] heartbeat_interval_ms"));
  EXPECT_TRUE(fails_at(minimal_and("[timeouts]\nrecovery_timeout_ms = 1.5\n"),
                       "keel.toml:12:", "[timeouts] recovery_timeout_ms"));
  EXPECT_TRUE(fails_at(minimal_and("[repair]\nrepair_budget = -1\n"),
                       "keel.toml:12:", "[repair] repair_budget"));
  EXPECT_TRUE(fails_at(minimal_and("[checkpoint]\ncheckpoint_retention = 4294967296\n"),
                       "keel.toml:12:", "[checkpoint] checkpoint_retention"));
  EXPECT_TRUE(
      fails_at(minimal_and("fsync_enabled = 1\n"), "keel.toml:11:", "[storage] fsync_enabled"));
  EXPECT_TRUE(
      fails_at(minimal_and("[logging]\nlevel = \"loud\"\n"), "keel.toml:12:", "[logging] level"));
  EXPECT_TRUE(
      fails_at(minimal_and("[io]\nbackend = \"kqueue\"\n"), "keel.toml:12:", "[io] backend"));
  EXPECT_TRUE(fails_at(minimal_and("[metrics]\nprometheus_enabled = \"yes\"\n"),
                       "keel.toml:12:", "[metrics] prometheus_enabled"));
  EXPECT_TRUE(
      fails_at(minimal_and("[timeouts]\n[timeouts.more]\n"), "keel.toml:12:", "[timeouts] more"));
}

TEST(ReplicaConfig, SectionThatIsNotATable) {
  EXPECT_TRUE(fails_at("io = 3\n" + std::string(minimal), "keel.toml:1:", "[io]"));
}

TEST(ReplicaConfig, ImpossibleValuesAreValidateErrorsAtTheirKey) {
  EXPECT_TRUE(fails_at(minimal_and("[timeouts]\nheartbeat_interval_ms = 0\n"),
                       "keel.toml:12:", "[timeouts] heartbeat_interval_ms"));
  EXPECT_TRUE(fails_at(minimal_and("[timeouts]\nview_change_timeout_ms = 0\n"),
                       "keel.toml:12:", "[timeouts] view_change_timeout_ms"));
  EXPECT_TRUE(fails_at(minimal_and("[repair]\nrepair_timeout_ms = 0\n"),
                       "keel.toml:12:", "[repair] repair_timeout_ms"));
  EXPECT_TRUE(fails_at(minimal_and("[timeouts]\nheartbeat_timeout_ms = 100\n"),
                       "keel.toml:12:", "[timeouts] heartbeat_timeout_ms"));
  // heartbeat_timeout_ms keeps its default (300), so the key the file sets is the one blamed.
  EXPECT_TRUE(fails_at(minimal_and("[timeouts]\nheartbeat_interval_ms = 400\n"),
                       "keel.toml:12:", "[timeouts] heartbeat_interval_ms"));
  EXPECT_TRUE(fails_at(minimal_and("wal_slots = 100\n"), "keel.toml:11:", "[storage] wal_slots"));
  EXPECT_TRUE(fails_at(minimal_and("[checkpoint]\ncheckpoint_retention = 9\n"),
                       "keel.toml:12:", "[checkpoint] checkpoint_retention"));
  // ClockSync's bound (about 18 minutes).
  EXPECT_TRUE(fails_at(minimal_and("[clock]\nclock_offset_tolerance_ms = 100000000\n"),
                       "keel.toml:12:", "[clock] clock_offset_tolerance_ms"));
  // Of the keys the message names ("scrub_budget and scrub_interval_ticks"), the one set.
  EXPECT_TRUE(fails_at(minimal_and("[scrubbing]\n\nscrub_interval_ticks = 0\n"),
                       "keel.toml:13:", "[scrubbing] scrub_interval_ticks"));
}

TEST(ReplicaConfig, TooManyReplicas) {
  std::string replicas;
  for (int id = 0; id < 7; id++) {
    replicas += "{ id = " + std::to_string(id) +
                ", address = \"127.0.0.1:" + std::to_string(7000 + id) + "\" },\n";
  }
  EXPECT_TRUE(fails_at(cluster_of(replicas), "keel.toml:4:", "[cluster] replicas"));
}

TEST(ReplicaConfig, ReplicaIdNotInReplicas) {
  const std::string text =
      "[cluster]\ncluster_id = 1\nreplica_id = 3\nreplicas = [\n"
      "{ id = 0, address = \"127.0.0.1:7000\" },\n]\n"
      "[storage]\ndata_dir = \"/tmp/keel\"\n";
  EXPECT_TRUE(fails_at(text, "keel.toml:3:", "[cluster] replica_id"));
}

TEST(ReplicaConfig, ReplicaIdListedTwice) {
  EXPECT_TRUE(fails_at(cluster_of("{ id = 0, address = \"127.0.0.1:7000\" },\n"
                                  "{ id = 1, address = \"127.0.0.1:7001\" },\n"
                                  "{ id = 1, address = \"127.0.0.1:7002\" },\n"),
                       "keel.toml:7:", "[cluster] replicas[2].id"));
}

TEST(ReplicaConfig, ReplicaIdsMustBeZeroToN) {
  EXPECT_TRUE(fails_at(cluster_of("{ id = 0, address = \"127.0.0.1:7000\" },\n"
                                  "{ id = 2, address = \"127.0.0.1:7001\" },\n"),
                       "keel.toml:6:", "[cluster] replicas[1].id"));
}

TEST(ReplicaConfig, TwoReplicasWithOneAddress) {
  EXPECT_TRUE(fails_at(cluster_of("{ id = 0, address = \"127.0.0.1:7000\" },\n"
                                  "{ id = 1, address = \"localhost:7000\" },\n"),
                       "keel.toml:6:", "[cluster] replicas[1].address"));
}

TEST(ReplicaConfig, BadAddresses) {
  for (const char* address : {"127.0.0.1", "10.0.1:7000", "example.com:7000", "127.0.0.1:0",
                              "127.0.0.1:65536", "127.0.0.1:70a", "127.0.0.1:", ":7000"}) {
    EXPECT_TRUE(fails_at(cluster_of(std::string("{ id = 0, address = \"") + address + "\" },\n"),
                         "keel.toml:5:", "[cluster] replicas[0].address"))
        << address;
  }
  EXPECT_TRUE(fails_at(minimal_and("[metrics]\nprometheus_address = \"9090\"\n"),
                       "keel.toml:12:", "[metrics] prometheus_address"));
}

TEST(ReplicaConfig, MissingRequiredKeys) {
  EXPECT_TRUE(
      fails_at("# comment\n[cluster]\nreplica_id = 0\n", "keel.toml:2:", "[cluster] cluster_id"));
  EXPECT_TRUE(fails_at("", "keel.toml:1:", "[cluster] cluster_id"));
  EXPECT_TRUE(fails_at("[cluster]\ncluster_id = 1\nreplica_id = 0\n",
                       "keel.toml:1:", "[cluster] replicas"));
  EXPECT_TRUE(
      fails_at(cluster_of("{ id = 0 },\n"), "keel.toml:5:", "[cluster] replicas[0].address"));
  std::string no_storage(minimal);
  no_storage.resize(no_storage.find("[storage]"));
  EXPECT_TRUE(fails_at(no_storage, "keel.toml:1:", "[storage] data_dir"));
}

TEST(ReplicaConfig, FsyncCannotBeDisabled) {
  EXPECT_TRUE(
      fails_at(minimal_and("fsync_enabled = false\n"), "keel.toml:11:", "[storage] fsync_enabled"));
}

TEST(ReplicaConfig, SeparateLogAndSuperblockPathsAreRefused) {
  EXPECT_TRUE(
      fails_at(minimal_and("log_path = \"/x/log.bin\"\n"), "keel.toml:11:", "[storage] log_path"));
  EXPECT_TRUE(fails_at(minimal_and("superblock_path = \"/x/sb.bin\"\n"),
                       "keel.toml:11:", "[storage] superblock_path"));
}

TEST(ReplicaConfig, OpenTelemetryIsNotSupported) {
  EXPECT_TRUE(fails_at(minimal_and("[metrics]\notel_enabled = true\n"),
                       "keel.toml:12:", "[metrics] otel_enabled"));
}

TEST(ReplicaConfig, FileOutputNeedsALogFile) {
  EXPECT_TRUE(fails_at(minimal_and("[logging]\noutput = \"file\"\n"),
                       "keel.toml:12:", "[logging] log_file"));
}

TEST(ReplicaConfig, OverridesApplyOnTopOfTheFile) {
  ReplicaFileConfig config;
  ASSERT_TRUE(
      parses(minimal_and("[timeouts]\nheartbeat_interval_ms = 50\n"), config,
             {"timeouts.heartbeat_interval_ms=200", "timeouts.heartbeat_timeout_ms = 800",
              "logging.level=\"debug\"", "logging.format=json", "cluster.replica_id=2",
              "storage.data_dir=/srv/keel", "metrics.prometheus_address=127.0.0.1:9100",
              "cluster.replicas=[{id=0, address=\"127.0.0.1:8000\"}]", "cluster.replica_id=0"}));
  EXPECT_EQ(config.vsr.heartbeat_interval_ms, 200u);
  EXPECT_EQ(config.vsr.heartbeat_timeout_ms, 800u);
  EXPECT_EQ(config.logging.level, LogLevel::debug);
  EXPECT_EQ(config.logging.format, LogFormat::json);
  EXPECT_EQ(config.data_file_path(), "/srv/keel/keel.data");
  EXPECT_EQ(config.metrics.prometheus_port, 9100);
  ASSERT_EQ(config.replicas.size(), 1u);
  EXPECT_EQ(config.listen_address().port, 8000);
}

TEST(ReplicaConfig, OverrideErrorsNameTheOverride) {
  EXPECT_TRUE(fails_at(minimal, "keel.toml: override 'timeouts.nope=1'", "[timeouts] nope",
                       {"timeouts.nope=1"}));
  EXPECT_TRUE(
      fails_at(minimal, "keel.toml: override 'network.port=1'", "[network]", {"network.port=1"}));
  EXPECT_TRUE(fails_at(minimal, "keel.toml: override 'heartbeat=1': expected section.key=value",
                       "override 'heartbeat=1'", {"heartbeat=1"}));
  EXPECT_TRUE(fails_at(minimal, "keel.toml: override 'repair.repair_budget=ten'",
                       "[repair] repair_budget", {"repair.repair_budget=ten"}));
  EXPECT_TRUE(fails_at(minimal, "keel.toml: override 'timeouts.heartbeat_interval_ms=0'",
                       "[timeouts] heartbeat_interval_ms", {"timeouts.heartbeat_interval_ms=0"}));
  EXPECT_TRUE(fails_at(minimal, "keel.toml: override 'cluster.replicas=[{id=0}]'",
                       "[cluster] replicas[0].address", {"cluster.replicas=[{id=0}]"}));
}

TEST(ReplicaConfig, LoadReadsTheFile) {
  char path[] = "/tmp/keel-config-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, minimal.data(), minimal.size()), static_cast<ssize_t>(minimal.size()));
  close(fd);
  ReplicaFileConfig config;
  std::string error;
  EXPECT_TRUE(load_replica_config(path, {"logging.level=trace"}, config, error)) << error;
  EXPECT_EQ(config.logging.level, LogLevel::trace);
  std::remove(path);
  EXPECT_FALSE(load_replica_config(path, {}, config, error));
  EXPECT_TRUE(error.starts_with(std::string(path) + ": cannot read")) << error;
}

}  // namespace
}  // namespace keel::runtime
