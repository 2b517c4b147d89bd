#include "runtime/replica_server.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <random>

#include "core/vsr/data_file.h"
#include "core/vsr/replica.h"
#include "core/vsr/superblock.h"
#include "core/vsr/wire.h"
#include "io/assert.h"
#include "runtime/admin_http.h"
#include "runtime/clock.h"
#include "runtime/file_storage.h"
#include "runtime/local_route.h"
#include "runtime/resp_server.h"
#include "runtime/tcp_bus.h"
#include "workloads/kv/replicated.h"

namespace keel::runtime {

namespace {

volatile std::sig_atomic_t stop_requested = 0;
volatile std::sig_atomic_t view_change_requested = 0;

void on_signal(int signal_number) {
  if (signal_number == SIGUSR2) {
    view_change_requested = 1;
  } else {
    stop_requested = signal_number;
  }
}

// No SA_RESTART: a signal interrupts the loop's wait, so it is seen at once.
void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (const int signal_number : {SIGTERM, SIGINT, SIGUSR2})
    sigaction(signal_number, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

constexpr uint64_t stop_drain_ms_max = 5000;
constexpr uint64_t status_log_interval_ms = 1000;

// Client latency as the replica sees it: from a client's request arriving to the reply leaving.
class LatencyHistogram {
 public:
  static constexpr std::array<uint64_t, 13> bounds_ms = {1,   2,   5,    10,   25,   50,   100,
                                                         250, 500, 1000, 2500, 5000, 10000};
  void observe(uint64_t latency_ns) {
    const double latency_ms = static_cast<double>(latency_ns) / 1e6;
    for (size_t i = 0; i < bounds_ms.size(); i++) {
      if (latency_ms <= static_cast<double>(bounds_ms[i])) counts_[i]++;
    }
    count_++;
    sum_ms_ += latency_ms;
  }
  void render(std::string& out, const std::string& labels) const {
    for (size_t i = 0; i < bounds_ms.size(); i++) {
      out += fmt::format("vsr_client_latency_ms_bucket{{{},le=\"{}\"}} {}\n", labels, bounds_ms[i],
                         counts_[i]);
    }
    out += fmt::format("vsr_client_latency_ms_bucket{{{},le=\"+Inf\"}} {}\n", labels, count_);
    out += fmt::format("vsr_client_latency_ms_sum{{{}}} {:.3f}\n", labels, sum_ms_);
    out += fmt::format("vsr_client_latency_ms_count{{{}}} {}\n", labels, count_);
  }

 private:
  std::array<uint64_t, bounds_ms.size()> counts_{};  // cumulative, as Prometheus wants
  uint64_t count_ = 0;
  double sum_ms_ = 0;
};

// The replica's bus, timing requests to replies on the way through. Observation only: every
// message passes unchanged.
class TimedBus final : public io::MessageBus {
 public:
  static constexpr size_t clients_timed_max = 4096;
  static constexpr uint64_t request_age_ns_max = 10 * io::ns_per_s;

  TimedBus(io::MessageBus& inner, uint32_t replica_count, LatencyHistogram& latency)
      : inner_(inner), replica_count_(replica_count), latency_(latency) {}

  io::NodeId self() const override { return inner_.self(); }
  void send(io::NodeId to, uint16_t kind, std::span<const uint8_t> body) override {
    if (kind == static_cast<uint16_t>(vsr::Kind::reply)) {
      replies_sent_++;
      const auto found = started_ns_.find(to);
      if (found != started_ns_.end()) {
        latency_.observe(Loop::monotonic_ns() - found->second);
        started_ns_.erase(found);
      }
    }
    inner_.send(to, kind, body);
  }
  void set_receiver(Receiver receiver) override {
    inner_.set_receiver([this, receiver = std::move(receiver)](
                            io::NodeId from, uint16_t kind, std::span<const uint8_t> body) mutable {
      if (kind == static_cast<uint16_t>(vsr::Kind::request) && from >= replica_count_)
        started(from);
      receiver(from, kind, body);
    });
  }
  uint64_t replies_sent() const { return replies_sent_; }

 private:
  // A retry keeps the first arrival; an entry a reply never ended (a backup's, say) expires.
  void started(io::NodeId client) {
    const uint64_t now = Loop::monotonic_ns();
    const auto found = started_ns_.find(client);
    if (found != started_ns_.end()) {
      if (now - found->second > request_age_ns_max) found->second = now;
      return;
    }
    if (started_ns_.size() < clients_timed_max) started_ns_.emplace(client, now);
  }

  io::MessageBus& inner_;
  uint64_t replies_sent_ = 0;
  const uint32_t replica_count_;
  LatencyHistogram& latency_;
  std::map<io::NodeId, uint64_t> started_ns_;
};

class ServerObserver final : public vsr::ReplicaObserver {
 public:
  explicit ServerObserver(Logger& logger) : logger_(logger) {}

  bool observes_commits() const override { return false; }
  void event(uint32_t replica, vsr::ReplicaEvent event) override {
    (void)replica;
    counts_[static_cast<size_t>(event)]++;
    // Repairs come in bursts of thousands after an outage: one line each is debug detail.
    const bool routine = event == vsr::ReplicaEvent::header_repaired ||
                         event == vsr::ReplicaEvent::prepare_repaired ||
                         event == vsr::ReplicaEvent::client_evicted ||
                         event == vsr::ReplicaEvent::checkpoint_written;
    logger_.log(routine ? LogLevel::debug : LogLevel::info,
                fmt::format("event {}", vsr::replica_event_name(event)));
  }
  bool logging() const override { return logger_.enabled(LogLevel::debug); }
  void log(uint32_t replica, std::string_view line) override {
    (void)replica;
    logger_.debug(line);
  }
  uint64_t count(vsr::ReplicaEvent event) const { return counts_[static_cast<size_t>(event)]; }

 private:
  Logger& logger_;
  std::array<uint64_t, static_cast<size_t>(vsr::ReplicaEvent::count_)> counts_{};
};

const char* status_name(vsr::Status status) {
  switch (status) {
    case vsr::Status::starting:
      return "starting";
    case vsr::Status::normal:
      return "normal";
    case vsr::Status::view_change:
      return "view_change";
    case vsr::Status::recovering:
      return "recovering";
  }
  return "unknown";
}

uint64_t resident_memory_bytes() {
  std::FILE* statm = std::fopen("/proc/self/statm", "r");
  if (statm == nullptr) return 0;
  unsigned long pages_total = 0;
  unsigned long pages_resident = 0;
  const int read = std::fscanf(statm, "%lu %lu", &pages_total, &pages_resident);
  std::fclose(statm);
  if (read != 2) return 0;
  return static_cast<uint64_t>(pages_resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// The KV limits whose snapshot, with a full client table, fits the checkpoint area; false if the
// area cannot hold even the client table.
bool kv_limits_for(const vsr::Config& config, kv::Limits& limits) {
  // Each session's latest reply is at most one message.
  const uint64_t client_table_bytes_max =
      uint64_t{config.clients_max} * (config.message_size_bytes_max + 64) + 64;
  if (client_table_bytes_max >= config.snapshot_size_bytes_max) return false;
  const uint64_t budget_bytes = config.snapshot_size_bytes_max - client_table_bytes_max;
  limits = kv::Limits{};
  // A value travels in a request and back in a reply: it must fit a message with room to spare.
  limits.value_size_bytes_max =
      std::min(limits.value_size_bytes_max, config.message_size_bytes_max / 4);
  limits.key_size_bytes_max =
      std::min(limits.key_size_bytes_max, config.message_size_bytes_max / 16);
  limits.state_size_bytes_max = budget_bytes;
  for (int halvings = 0; halvings < 64; halvings++) {
    if (kv::KvReplicated(limits).snapshot_size_bytes_max() <= budget_bytes) return true;
    limits.state_size_bytes_max /= 2;
  }
  return false;
}

class ReplicaServer {
 public:
  ReplicaServer(const ReplicaServerOptions& options, Logger& logger)
      : options_(options), logger_(logger), observer_(logger) {}

  int run() {
    if (!start()) return 2;
    logger_.info(fmt::format("replica {} of {} serving on {} (cluster {})", options_.replica,
                             options_.replica_addresses.size(),
                             format_address(options_.replica_addresses[options_.replica]),
                             options_.cluster_id));
    while (stop_requested == 0) {
      loop_->run_once(100 * io::ns_per_ms);
      if (view_change_requested != 0) {
        view_change_requested = 0;
        const bool started = replica_->request_view_change();
        logger_.log(started ? LogLevel::info : LogLevel::warn,
                    started ? "SIGUSR2: view change started"
                            : fmt::format("SIGUSR2: no view change from status {}",
                                          status_name(replica_->status())));
      }
    }
    stop();
    return 0;
  }

 private:
  bool start() {
    install_signal_handlers();
    logger_.set_replica(options_.replica);
    if (!open_loop() || !open_data_file() || !check_superblock() || !check_size()) return false;
    if (!kv_limits_for(options_.config, kv_limits_)) {
      logger_.error(
          "snapshot_size_bytes_max cannot hold the client table (clients_max x "
          "message_size_bytes_max)");
      return false;
    }
    TcpBusOptions bus_options;
    bus_options.cluster_id = options_.cluster_id;
    bus_options.self = options_.replica;
    bus_options.replica_addresses = options_.replica_addresses;
    bus_options.client_node_end = LocalRoute::client_node_first;
    std::string error;
    bus_ = TcpBus::create(*loop_, bus_options, seed(), error);
    if (bus_ == nullptr) {
      logger_.error(error);
      return false;
    }
    local_route_ = std::make_unique<LocalRoute>(*loop_, *bus_, options_.replica);
    timed_bus_ = std::make_unique<TimedBus>(local_route_->replica_bus(), replica_count(), latency_);
    if (options_.metrics_enabled && !start_admin()) return false;
    if (options_.resp_enabled && !start_resp()) return false;
    clock_ = std::make_unique<SystemClock>();
    timers_ = std::make_unique<LoopTimers>(*loop_);
    random_ = std::make_unique<io::Random>(seed());
    state_machine_ = std::make_unique<kv::KvReplicated>(kv_limits_);
    const io::Env env{*clock_,  *timers_,       *timed_bus_,
                      *random_, storage_.get(), options_.cluster_id};
    replica_ = std::make_unique<vsr::Replica>(options_.config, env, options_.replica,
                                              *state_machine_, &observer_);
    schedule_status_log();
    return true;
  }

  static uint64_t seed() {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device() ^ Loop::monotonic_ns();
  }
  uint32_t replica_count() const {
    return static_cast<uint32_t>(options_.replica_addresses.size());
  }

  bool open_loop() {
    std::string why;
    if (options_.backend.has_value()) {
      loop_ = Loop::create(*options_.backend, why);
      if (loop_ == nullptr) {
        logger_.error(
            fmt::format("io backend {} unavailable: {}", backend_name(*options_.backend), why));
        return false;
      }
      why = fmt::format("io backend {} (forced)", backend_name(*options_.backend));
    } else {
      loop_ = Loop::create_preferred(why);
      if (loop_ == nullptr) {
        logger_.error(why);
        return false;
      }
    }
    logger_.info(why);
    return true;
  }

  bool open_data_file() {
    std::string error;
    storage_ = FileStorage::open(*loop_, options_.data_file_path, error);
    if (storage_ == nullptr) {
      logger_.error(error);
      return false;
    }
    if (!storage_->direct()) {
      logger_.warn(
          fmt::format("{}: the file system refused O_DIRECT; using buffered I/O with fdatasync",
                      options_.data_file_path));
    }
    return true;
  }

  // After the superblock check, which names the value that differs: a backstop for files whose
  // superblock is lost.
  bool check_size() {
    const uint64_t expected_bytes = vsr::Replica::storage_size_bytes(options_.config);
    if (storage_->size_bytes() == expected_bytes) return true;
    logger_.error(fmt::format(
        "{} is {} bytes but the configuration's layout needs {}: it was formatted with other "
        "[storage] sizes (wal_slots, message_size_bytes_max, snapshot_size_bytes_max, "
        "checkpoint_retention)",
        options_.data_file_path, storage_->size_bytes(), expected_bytes));
    return false;
  }

  // Refuses a data file of another cluster or replica before the replica touches it.
  bool check_superblock() {
    vsr::Superblock superblock(*storage_, 0, options_.cluster_id, options_.replica);
    bool done = false;
    vsr::Superblock::OpenResult result;
    superblock.open([&](const vsr::Superblock::OpenResult& opened) {
      result = opened;
      done = true;
    });
    loop_->run_until([&] { return done; });
    KEEL_ASSERT(done);
    if (result.found) {
      const std::string mismatch = vsr::layout_mismatch(superblock.state(), options_.config);
      if (mismatch.empty()) return true;
      logger_.error(
          fmt::format("{}: {}; set [storage] and [checkpoint] to the values "
                      "`keel dump-superblock {}` shows",
                      options_.data_file_path, mismatch, options_.data_file_path));
      return false;
    }
    const bool foreign = std::any_of(result.status.begin(), result.status.end(), [](auto status) {
      return status == vsr::Superblock::CopyStatus::foreign;
    });
    if (foreign) {
      logger_.error(fmt::format(
          "{} belongs to another cluster or replica: its superblock does not name cluster_id {} "
          "and replica_id {} (see `keel dump-superblock {}`)",
          options_.data_file_path, options_.cluster_id, options_.replica, options_.data_file_path));
      return false;
    }
    logger_.warn(
        fmt::format("{}: no superblock copy counts (a file from `keel format --recover`, or a lost "
                    "superblock); the replica recovers its state from its peers",
                    options_.data_file_path));
    return true;
  }

  bool start_admin() {
    std::string error;
    admin_ = AdminHttp::create(
        *loop_, options_.metrics_address, [this](std::string_view path) { return serve(path); },
        error);
    if (admin_ == nullptr) {
      logger_.error("metrics: " + error);
      return false;
    }
    logger_.info("metrics and health on http://" + format_address(options_.metrics_address));
    return true;
  }

  bool start_resp() {
    RespServerOptions resp;
    resp.cluster_id = options_.cluster_id;
    resp.replica_addresses = options_.replica_addresses;
    resp.config = options_.config;
    resp.connections_max = options_.resp_connections_max;
    resp.local_route = local_route_.get();
    resp.local_replica = options_.replica;
    resp.session.limits.bulk_size_bytes_max = options_.resp_bulk_size_bytes_max;
    // A batch and its reply each fit half a message.
    resp.session.batch_size_bytes_max = options_.config.message_size_bytes_max / 2;
    resp.session.batch_reply_size_bytes_max = options_.config.message_size_bytes_max / 2;
    resp.session.reply_value_size_bytes_max = kv_limits_.value_size_bytes_max;
    resp.session.batch_commands_max =
        static_cast<uint32_t>(std::min<uint64_t>(kv_limits_.batch_commands_max, 256));
    std::string error;
    resp_ = RespServer::create(
        *loop_, options_.resp_address, resp, [this] { return info(); },
        [this] { return replica_->view(); }, error);
    if (resp_ == nullptr) {
      logger_.error("[client] resp_address: " + error);
      return false;
    }
    logger_.info("redis clients on " + format_address(options_.resp_address));
    return true;
  }

  // INFO in Redis's section format: what redis-cli and client libraries look for, plus keel's.
  std::string info() const {
    const bool primary = replica_->primary();
    return fmt::format(
        "# Server\r\nredis_version:7.0.0\r\nkeel_version:0.1\r\nredis_mode:standalone\r\n"
        "process_id:{}\r\ntcp_port:{}\r\n\r\n"
        "# Replication\r\nrole:{}\r\nconnected_slaves:{}\r\n\r\n"
        "# Keel\r\nkeel_replica:{}\r\nkeel_replica_count:{}\r\nkeel_status:{}\r\n"
        "keel_view:{}\r\nkeel_primary:{}\r\nkeel_op:{}\r\nkeel_commit:{}\r\n"
        "keel_io_backend:{}\r\n",
        getpid(), ntohs(options_.resp_address.sin_port), primary ? "master" : "slave",
        primary ? bus_->peers_connected() : 0, options_.replica, replica_count(),
        status_name(replica_->status()), replica_->view(), replica_->view() % replica_count(),
        replica_->op(), replica_->commit_max(), backend_name(loop_->backend()));
  }

  HttpResponse serve(std::string_view path) {
    if (path == "/metrics") {
      return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics()};
    }
    if (path == "/health/live") {
      // Says whose it is: a script can tell its replica from another that took the port.
      return HttpResponse{200, "text/plain; charset=utf-8",
                          fmt::format("live: replica {} pid {}\n", options_.replica, getpid())};
    }
    if (path == "/health/ready") {
      const vsr::Status status = replica_->status();
      if (status == vsr::Status::normal) {
        return HttpResponse{200, "text/plain; charset=utf-8",
                            fmt::format("ready: normal in view {}\n", replica_->view())};
      }
      return HttpResponse{
          503, "text/plain; charset=utf-8",
          fmt::format("not ready: {} in view {}\n", status_name(status), replica_->view())};
    }
    return HttpResponse{404, "text/plain; charset=utf-8",
                        "not found; try /metrics, /health/live, /health/ready\n"};
  }

  std::string metrics() const;
  void schedule_status_log();
  void stop();

  const ReplicaServerOptions& options_;
  Logger& logger_;
  ServerObserver observer_;
  LatencyHistogram latency_;
  kv::Limits kv_limits_;
  std::unique_ptr<Loop> loop_;
  std::unique_ptr<FileStorage> storage_;
  std::unique_ptr<TcpBus> bus_;
  std::unique_ptr<LocalRoute> local_route_;  // before resp_: its sessions hold the route
  std::unique_ptr<TimedBus> timed_bus_;
  std::unique_ptr<AdminHttp> admin_;
  std::unique_ptr<RespServer> resp_;
  std::unique_ptr<SystemClock> clock_;
  std::unique_ptr<LoopTimers> timers_;
  std::unique_ptr<io::Random> random_;
  std::unique_ptr<kv::KvReplicated> state_machine_;
  std::unique_ptr<vsr::Replica> replica_;
  vsr::Status status_logged_ = vsr::Status::starting;
  uint64_t view_logged_ = UINT64_MAX;
};

void metric(std::string& out, const char* name, const char* type, const char* help,
            const std::string& labels, uint64_t value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{{{}}} {}\n", name, help, name, type, name,
                     labels, value);
}

std::string ReplicaServer::metrics() const {
  const std::string labels = fmt::format("replica=\"{}\"", options_.replica);
  std::string out;
  using vsr::ReplicaEvent;
  metric(out, "vsr_operations_total", "counter",
         "Ops (log entries, each a batch of client requests) committed and applied by this "
         "replica.",
         labels, replica_->commit_min());
  metric(out, "vsr_client_replies_total", "counter", "Replies this replica sent to clients.",
         labels, timed_bus_->replies_sent());
  out += "# HELP vsr_client_latency_ms Client request to reply, as the primary sees it.\n";
  out += "# TYPE vsr_client_latency_ms histogram\n";
  latency_.render(out, labels);
  metric(out, "vsr_prepare_ok_votes", "gauge",
         "Replicas that acknowledged the primary's newest prepare (0 on a backup).", labels,
         replica_->prepare_ok_votes());
  metric(out, "vsr_quorum_size", "gauge", "Replicas a commit needs.", labels,
         replica_count() / 2 + 1);
  out += "# HELP vsr_replica_status The replica's status (1 for the current one).\n";
  out += "# TYPE vsr_replica_status gauge\n";
  for (const vsr::Status status : {vsr::Status::starting, vsr::Status::normal,
                                   vsr::Status::view_change, vsr::Status::recovering}) {
    out += fmt::format("vsr_replica_status{{{},status=\"{}\"}} {}\n", labels, status_name(status),
                       replica_->status() == status ? 1 : 0);
  }
  metric(out, "vsr_memory_used_bytes", "gauge", "Resident memory of the process.", labels,
         resident_memory_bytes());
  metric(out, "vsr_view", "gauge", "The current view.", labels, replica_->view());
  metric(out, "vsr_is_primary", "gauge", "1 if this replica is the primary.", labels,
         replica_->primary() ? 1 : 0);
  metric(out, "vsr_op_number", "gauge", "The newest op in the log.", labels, replica_->op());
  metric(out, "vsr_commit_number", "gauge", "The newest op known committed.", labels,
         replica_->commit_max());
  metric(out, "vsr_state_checksum", "gauge",
         "Checksum of the replicated state after vsr_operations_total ops (equal on replicas at "
         "the same op).",
         labels, replica_->state_checksum());
  metric(out, "vsr_wal_repairs_total", "counter", "WAL headers and prepares repaired from peers.",
         labels,
         observer_.count(ReplicaEvent::header_repaired) +
             observer_.count(ReplicaEvent::prepare_repaired));
  metric(out, "vsr_scrub_findings_total", "counter",
         "Damaged prepares the scrubber found (and repaired).", labels,
         observer_.count(ReplicaEvent::scrub_repair));
  out += "# HELP vsr_events_total Replica events by kind.\n# TYPE vsr_events_total counter\n";
  for (size_t e = 0; e < static_cast<size_t>(ReplicaEvent::count_); e++) {
    out += fmt::format("vsr_events_total{{{},event=\"{}\"}} {}\n", labels,
                       vsr::replica_event_name(static_cast<ReplicaEvent>(e)),
                       observer_.count(static_cast<ReplicaEvent>(e)));
  }
  const TcpBusCounters& bus = bus_->counters();
  metric(out, "vsr_bad_frames_total", "counter", "Frames that failed their checks.", labels,
         bus.frames_bad);
  metric(out, "vsr_messages_sent_total", "counter", "Messages sent.", labels, bus.messages_sent);
  metric(out, "vsr_messages_received_total", "counter", "Messages received.", labels,
         bus.messages_received);
  metric(out, "vsr_messages_dropped_total", "counter",
         "Messages dropped: peer not connected or send queue full.", labels, bus.messages_dropped);
  metric(out, "vsr_peers_connected", "gauge", "Replicas this one has a connection to.", labels,
         bus_->peers_connected());
  const LocalRouteCounters& route = local_route_->counters();
  metric(out, "vsr_local_route_messages_total", "counter",
         "Messages between this replica and its own Redis sessions, passed in-process.", labels,
         route.messages_delivered);
  metric(out, "vsr_local_route_dropped_total", "counter",
         "In-process messages dropped: queue full, or the session had closed.", labels,
         route.messages_dropped);
  metric(out, "vsr_io_backend", "gauge", "The I/O backend in use.",
         fmt::format("{},backend=\"{}\"", labels, backend_name(loop_->backend())), 1);
  metric(out, "vsr_data_file_direct", "gauge", "1 if the data file uses O_DIRECT.", labels,
         storage_->direct() ? 1 : 0);
  return out;
}

// Status and view changes reach the log without the debug firehose.
void ReplicaServer::schedule_status_log() {
  loop_->start_timer(status_log_interval_ms * io::ns_per_ms, [this] {
    if (replica_->status() != status_logged_ || replica_->view() != view_logged_) {
      status_logged_ = replica_->status();
      view_logged_ = replica_->view();
      logger_.info(fmt::format("status {} view {}{} op {} commit {}", status_name(status_logged_),
                               view_logged_, replica_->primary() ? " (primary)" : "",
                               replica_->op(), replica_->commit_max()));
    }
    schedule_status_log();
  });
}

// Acknowledged writes are durable already (a reply follows the sync); stopping only lets the
// I/O in flight complete so no buffer is freed under the kernel.
void ReplicaServer::stop() {
  logger_.info(fmt::format("signal {}: stopping", static_cast<int>(stop_requested)));
  if (resp_ != nullptr) resp_->stop();
  bus_->stop();
  if (admin_ != nullptr) admin_->stop();
  const uint64_t deadline_ns = Loop::monotonic_ns() + stop_drain_ms_max * io::ns_per_ms;
  while (Loop::monotonic_ns() < deadline_ns) {
    const bool admin_idle = admin_ == nullptr || admin_->idle();
    const bool resp_idle = resp_ == nullptr || resp_->idle();
    if (bus_->idle() && admin_idle && resp_idle && loop_->operations_in_flight() == 0) break;
    loop_->run_once(10 * io::ns_per_ms);
  }
  logger_.info(fmt::format("stopped at op {} commit {}", replica_->op(), replica_->commit_max()));
}

}  // namespace

int run_replica_server(const ReplicaServerOptions& options, Logger& logger) {
  KEEL_ASSERT(options.replica < options.replica_addresses.size());
  KEEL_ASSERT(options.config.validate().empty());
  ReplicaServer server(options, logger);
  return server.run();
}

}  // namespace keel::runtime
