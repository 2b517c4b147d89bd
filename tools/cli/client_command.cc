// `keel client`: one KV command against a running cluster over the native protocol.
// `keel load`: many sessions writing at once (the runtime's benchmark and its tests' load), and
// reading acknowledged writes back.

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/vsr/client.h"
#include "runtime/clock.h"
#include "runtime/loop.h"
#include "runtime/tcp_bus.h"
#include "tools/cli/args.h"
#include "tools/cli/commands.h"
#include "workloads/kv/text_command.h"

namespace keel::cli {

namespace {

constexpr int exit_no_reply = 3;
constexpr uint32_t sessions_max = 1000;

struct ClusterFlags {
  uint64_t cluster_id = 1;
  std::vector<sockaddr_in> replicas;
  std::optional<runtime::Backend> backend;
};

std::vector<sockaddr_in> parse_addresses(const std::string& text) {
  std::vector<sockaddr_in> addresses;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    sockaddr_in address{};
    if (!runtime::parse_ipv4_address(item, address)) {
      throw UsageError(fmt::format("--addresses: '{}' is not host:port (an IPv4 address)", item));
    }
    addresses.push_back(address);
  }
  if (addresses.empty() || addresses.size() > 6) {
    throw UsageError("--addresses: give every replica's address, 1 to 6 of them, comma-separated");
  }
  return addresses;
}

std::optional<runtime::Backend> parse_backend(const std::string& text) {
  if (text == "uring") return runtime::Backend::uring;
  if (text == "epoll") return runtime::Backend::epoll;
  if (text == "auto") return std::nullopt;
  throw UsageError(fmt::format("--io: '{}' is not uring, epoll or auto", text));
}

// Reads a flag shared by the client commands; false if flag is not one of them.
bool read_cluster_flag(ArgReader& reader, const std::string& flag, ClusterFlags& cluster) {
  if (flag == "--addresses") {
    cluster.replicas = parse_addresses(reader.value(flag));
  } else if (flag == "--cluster") {
    cluster.cluster_id = parse_u64(flag, reader.value(flag), 0, UINT64_MAX);
  } else if (flag == "--io") {
    cluster.backend = parse_backend(reader.value(flag));
  } else {
    return false;
  }
  return true;
}

std::unique_ptr<runtime::Loop> open_loop(const ClusterFlags& cluster) {
  std::string why;
  std::unique_ptr<runtime::Loop> loop = cluster.backend.has_value()
                                            ? runtime::Loop::create(*cluster.backend, why)
                                            : runtime::Loop::create_preferred(why);
  if (loop == nullptr) throw EnvironmentError("no io backend: " + why);
  return loop;
}

uint64_t fresh_seed() {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device() ^ runtime::Loop::monotonic_ns();
}

// One client session with connections of its own: replies come back to the connection the
// request went out on, so sessions cannot share one.
class Session {
 public:
  Session(runtime::Loop& loop, const ClusterFlags& cluster, runtime::SystemClock& clock,
          runtime::LoopTimers& timers, const vsr::ClientOptions& options)
      : random_(fresh_seed()) {
    runtime::TcpBusOptions bus_options;
    bus_options.cluster_id = cluster.cluster_id;
    bus_options.self = static_cast<io::NodeId>(cluster.replicas.size());
    bus_options.replica_addresses = cluster.replicas;
    std::string error;
    bus_ = runtime::TcpBus::create(loop, bus_options, random_.next_u64(), error);
    if (bus_ == nullptr) throw EnvironmentError(error);
    config_.replica_count = static_cast<uint32_t>(cluster.replicas.size());
    const io::Env env{clock, timers, *bus_, random_, nullptr, cluster.cluster_id};
    client_ = std::make_unique<vsr::Client>(config_, options, env, random_.next_u64());
  }
  vsr::Client& client() { return *client_; }
  runtime::TcpBus& bus() { return *bus_; }

 private:
  io::Random random_;
  vsr::Config config_;
  std::unique_ptr<runtime::TcpBus> bus_;
  std::unique_ptr<vsr::Client> client_;
};

// The loop, clock and timers the sessions share; stops every bus cleanly on the way out.
struct ClientWorld {
  explicit ClientWorld(const ClusterFlags& cluster)
      : loop(open_loop(cluster)), timers(*loop), flags(cluster) {}
  ~ClientWorld() {
    for (auto& session : sessions) session->bus().stop();
    const uint64_t deadline_ns = runtime::Loop::monotonic_ns() + io::ns_per_s;
    while (runtime::Loop::monotonic_ns() < deadline_ns &&
           !std::all_of(sessions.begin(), sessions.end(),
                        [](const auto& session) { return session->bus().idle(); })) {
      loop->run_once(10 * io::ns_per_ms);
    }
    // Sessions go before the loop; a bus still busy after a second is left to the process exit.
    for (auto& session : sessions) {
      if (!session->bus().idle()) (void)session.release();
    }
  }
  Session& add_session(const vsr::ClientOptions& options) {
    sessions.push_back(std::make_unique<Session>(*loop, flags, clock, timers, options));
    return *sessions.back();
  }

  std::unique_ptr<runtime::Loop> loop;
  runtime::SystemClock clock;
  runtime::LoopTimers timers;
  const ClusterFlags flags;
  std::vector<std::unique_ptr<Session>> sessions;
};

std::string no_reply_hint(const ClusterFlags& cluster) {
  std::string addresses;
  for (const sockaddr_in& address : cluster.replicas) {
    addresses += (addresses.empty() ? "" : ",") + runtime::format_address(address);
  }
  return fmt::format("no reply from {} (are the replicas up, and is --cluster {} theirs?)",
                     addresses, cluster.cluster_id);
}

void require_addresses(const ClusterFlags& cluster) {
  if (cluster.replicas.empty()) throw UsageError("--addresses A,B,C is required");
}

}  // namespace

int client_command(const std::vector<std::string>& args) {
  ClusterFlags cluster;
  std::vector<std::string> words;
  ArgReader reader(args);
  while (!reader.done()) {
    const std::string arg = reader.next();
    if (!words.empty() || arg.rfind("--", 0) != 0) {
      words.push_back(arg);
    } else if (!read_cluster_flag(reader, arg, cluster)) {
      throw UsageError(fmt::format("unknown flag '{}'", arg));
    }
  }
  require_addresses(cluster);
  kv::proto::Command command;
  std::string error;
  if (!kv::parse_text_command(words, command, error)) throw UsageError(error);

  ClientWorld world(cluster);
  Session& session = world.add_session(vsr::ClientOptions{});
  bool done = false;
  vsr::ClientOutcome outcome;
  session.client().submit(command.SerializeAsString(), [&](const vsr::ClientOutcome& result) {
    outcome = result;
    done = true;
  });
  while (!done) world.loop->run_once(100 * io::ns_per_ms);
  if (outcome.status != vsr::ClientOutcome::Status::ok) {
    fmt::print(stderr, "keel client: {}; the command may or may not have taken effect\n",
               no_reply_hint(cluster));
    return exit_no_reply;
  }
  kv::proto::Result result;
  if (!result.ParseFromString(outcome.result)) {
    fmt::print(stderr, "keel client: the reply does not parse as a KV result\n");
    return 4;
  }
  fmt::print("{}\n", kv::format_result(result));
  return result.has_error() ? 1 : 0;
}

namespace {

struct LoadOptions {
  uint32_t sessions = 50;
  uint64_t ops = 0;         // total writes; 0: until duration_s
  uint64_t duration_s = 0;  // 0: until ops
  uint64_t value_size_bytes = 100;
  std::string key_prefix = "load";
  std::string acked_file;   // acknowledged writes appended as "key value" lines
  std::string verify_file;  // read these back instead of writing
};

struct LoadStats {
  uint64_t submitted = 0;
  uint64_t acked = 0;
  uint64_t unknown = 0;  // timed out or evicted: may or may not have taken effect
  uint64_t mismatched = 0;
  std::vector<uint64_t> latencies_ns;
};

// One session's stream of commands: the next one goes when the last one is answered.
class LoadDriver {
 public:
  using NextCommand = absl::AnyInvocable<bool(uint32_t session, kv::proto::Command& command,
                                              std::string& expected)>;
  LoadDriver(ClientWorld& world, NextCommand next, std::FILE* acked)
      : world_(world), next_(std::move(next)), acked_(acked) {}

  // Each session first registers and learns the view with a read nobody measures: a new
  // session's first request goes to view 0's primary, which may be long gone.
  void start(uint32_t sessions, absl::AnyInvocable<void()> warmed_up) {
    vsr::ClientOptions options;
    options.attempts_max = 20;  // rides out a view change
    warmed_up_ = std::move(warmed_up);
    for (uint32_t s = 0; s < sessions; s++) world_.add_session(options);
    cold_ = sessions;
    for (uint32_t s = 0; s < sessions; s++) {
      active_++;
      kv::proto::Command warm_up;
      warm_up.set_get("keel-load-warm-up");
      world_.sessions[s]->client().submit(warm_up.SerializeAsString(),
                                          [this](const vsr::ClientOutcome&) {
                                            active_--;
                                            if (--cold_ == 0) start_measured();
                                          });
    }
  }
  bool done() const { return active_ == 0; }
  LoadStats& stats() { return stats_; }

 private:
  void start_measured() {
    warmed_up_();
    for (uint32_t s = 0; s < world_.sessions.size(); s++) submit_next(s);
  }

  void submit_next(uint32_t session) {
    kv::proto::Command command;
    std::string expected;
    if (!next_(session, command, expected)) return;
    active_++;
    stats_.submitted++;
    const uint64_t started_ns = runtime::Loop::monotonic_ns();
    world_.sessions[session]->client().submit(
        command.SerializeAsString(),
        [this, session, started_ns, command, expected](const vsr::ClientOutcome& outcome) {
          active_--;
          finished(command, expected, outcome, runtime::Loop::monotonic_ns() - started_ns);
          submit_next(session);
        });
  }

  void finished(const kv::proto::Command& command, const std::string& expected,
                const vsr::ClientOutcome& outcome, uint64_t latency_ns) {
    if (outcome.status != vsr::ClientOutcome::Status::ok) {
      stats_.unknown++;
      return;
    }
    stats_.acked++;
    stats_.latencies_ns.push_back(latency_ns);
    kv::proto::Result result;
    if (command.has_get()) {
      result.ParseFromString(outcome.result);
      const bool match =
          result.has_value() && result.value().found() && result.value().value() == expected;
      if (!match) {
        stats_.mismatched++;
        fmt::print(stderr, "keel load: {} reads {}, acknowledged as \"{}\"\n", command.get(),
                   kv::format_result(result), expected);
      }
    } else if (acked_ != nullptr) {
      fmt::print(acked_, "{} {}\n", command.set().key(), command.set().value());
    }
  }

  ClientWorld& world_;
  NextCommand next_;
  std::FILE* acked_;
  uint32_t active_ = 0;
  uint32_t cold_ = 0;  // sessions still warming up
  absl::AnyInvocable<void()> warmed_up_;
  LoadStats stats_;
};

double percentile_ms(std::vector<uint64_t>& latencies_ns, double fraction) {
  if (latencies_ns.empty()) return 0;
  const size_t index =
      std::min(latencies_ns.size() - 1,
               static_cast<size_t>(fraction * static_cast<double>(latencies_ns.size())));
  std::nth_element(latencies_ns.begin(), latencies_ns.begin() + static_cast<ptrdiff_t>(index),
                   latencies_ns.end());
  return static_cast<double>(latencies_ns[index]) / 1e6;
}

LoadOptions parse_load_flags(const std::vector<std::string>& args, ClusterFlags& cluster) {
  LoadOptions options;
  ArgReader reader(args);
  while (!reader.done()) {
    const std::string flag = reader.next();
    if (read_cluster_flag(reader, flag, cluster)) continue;
    if (flag == "--sessions") {
      options.sessions =
          static_cast<uint32_t>(parse_u64(flag, reader.value(flag), 1, sessions_max));
    } else if (flag == "--ops") {
      options.ops = parse_u64(flag, reader.value(flag), 1, UINT64_MAX);
    } else if (flag == "--duration-s") {
      options.duration_s = parse_u64(flag, reader.value(flag), 1, 86400);
    } else if (flag == "--value-size-bytes") {
      options.value_size_bytes = parse_u64(flag, reader.value(flag), 1, 60 * 1024);
    } else if (flag == "--key-prefix") {
      options.key_prefix = reader.value(flag);
    } else if (flag == "--acked-file") {
      options.acked_file = reader.value(flag);
    } else if (flag == "--verify-file") {
      options.verify_file = reader.value(flag);
    } else {
      throw UsageError(fmt::format("unknown flag '{}'", flag));
    }
  }
  require_addresses(cluster);
  if (options.verify_file.empty() && options.ops == 0 && options.duration_s == 0) {
    throw UsageError("give --ops N or --duration-s S (or --verify-file F)");
  }
  return options;
}

std::vector<std::pair<std::string, std::string>> read_acked(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw EnvironmentError("cannot read " + path);
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string key;
  std::string value;
  while (in >> key >> value) pairs.emplace_back(key, value);
  return pairs;
}

}  // namespace

int load_command(const std::vector<std::string>& args) {
  ClusterFlags cluster;
  const LoadOptions options = parse_load_flags(args, cluster);
  std::FILE* acked = nullptr;
  if (!options.acked_file.empty()) {
    acked = std::fopen(options.acked_file.c_str(), "a");
    if (acked == nullptr) throw EnvironmentError("cannot write " + options.acked_file);
  }
  const std::vector<std::pair<std::string, std::string>> to_verify =
      options.verify_file.empty() ? std::vector<std::pair<std::string, std::string>>{}
                                  : read_acked(options.verify_file);
  uint64_t start_ns = runtime::Loop::monotonic_ns();
  uint64_t deadline_ns = UINT64_MAX;
  uint64_t issued = 0;
  std::vector<uint64_t> per_session(options.sessions, 0);
  ClientWorld world(cluster);
  LoadDriver driver(
      world,
      [&](uint32_t session, kv::proto::Command& command, std::string& expected) {
        if (!to_verify.empty() || !options.verify_file.empty()) {
          if (issued >= to_verify.size()) return false;
          command.set_get(to_verify[issued].first);
          expected = to_verify[issued++].second;
          return true;
        }
        if ((options.ops != 0 && issued >= options.ops) ||
            runtime::Loop::monotonic_ns() >= deadline_ns) {
          return false;
        }
        issued++;
        const uint64_t n = per_session[session]++;
        std::string value = fmt::format("{}-{}-{}-", options.key_prefix, session, n);
        value.resize(std::max<size_t>(value.size(), options.value_size_bytes), 'v');
        command.mutable_set()->set_key(fmt::format("{}-{}-{}", options.key_prefix, session, n));
        command.mutable_set()->set_value(value);
        return true;
      },
      acked);
  driver.start(options.sessions, [&] {
    start_ns = runtime::Loop::monotonic_ns();
    if (options.duration_s != 0) deadline_ns = start_ns + options.duration_s * io::ns_per_s;
  });
  uint64_t progress_ns = start_ns;
  while (!driver.done()) {
    world.loop->run_once(100 * io::ns_per_ms);
    if (runtime::Loop::monotonic_ns() - progress_ns > 5 * io::ns_per_s) {
      progress_ns = runtime::Loop::monotonic_ns();
      fmt::print(stderr, "keel load: {} acknowledged, {} unknown\n", driver.stats().acked,
                 driver.stats().unknown);
    }
  }
  if (acked != nullptr) std::fclose(acked);
  LoadStats& stats = driver.stats();
  const double seconds = static_cast<double>(runtime::Loop::monotonic_ns() - start_ns) / 1e9;
  fmt::print(
      "{} sessions={} io={} submitted={} acknowledged={} unknown={} mismatched={} seconds={:.2f} "
      "ops_per_s={:.0f} p50_ms={:.2f} p99_ms={:.2f} max_ms={:.2f}\n",
      options.verify_file.empty() ? "write" : "verify", options.sessions,
      runtime::backend_name(world.loop->backend()), stats.submitted, stats.acked, stats.unknown,
      stats.mismatched, seconds, static_cast<double>(stats.acked) / seconds,
      percentile_ms(stats.latencies_ns, 0.5), percentile_ms(stats.latencies_ns, 0.99),
      percentile_ms(stats.latencies_ns, 1.0));
  if (stats.mismatched > 0) return 1;
  if (stats.acked == 0 || (!options.verify_file.empty() && stats.unknown > 0)) {
    fmt::print(stderr, "keel load: {}\n", no_reply_hint(cluster));
    return exit_no_reply;
  }
  return 0;
}

}  // namespace keel::cli
