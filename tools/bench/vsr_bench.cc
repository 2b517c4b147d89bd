// Benchmarks of a whole simulated VSR cluster replicating the KV state machine.
// Target (issue): a 3-replica cluster at 1,000 simulated requests per second with faults runs at
// least 1,000 times faster than real time on one core; a run of 1 million operations keeps
// replica memory flat.
//
// The cluster is built from the simulator's pieces (World, SimNetwork, SimNode) with the real
// replica and client code, and no history or checker: what is timed is the protocol and the
// simulation under it, not the linearizability bookkeeping of `keel sim`.
//
//   Speed:  build/release/tools/bench/bench_vsr --benchmark_filter=BM_VsrCluster [--pipeline=N]
//           counters: simulated_s, requests_per_sim_s, speedup (simulated time / wall time).
//   Memory: build/release/tools/bench/bench_vsr --ops=1000000 [--rate=1000] [--clients=10]
//           [--seed=1] [--no-faults]
//           prints RSS and heap in use at 1% (after warm-up), 10%, 25%, 50%, 75% and 100% of
//           the operations.

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/vsr/client.h"
#include "core/vsr/config.h"
#include "core/vsr/replica.h"
#include "io/assert.h"
#include "io/random.h"
#include "sim/disk.h"
#include "sim/network.h"
#include "sim/node.h"
#include "sim/profile.h"
#include "sim/trace.h"
#include "sim/world.h"
#include "workloads/kv/kv.pb.h"
#include "workloads/kv/replicated.h"

namespace {

using keel::io::NodeId;
using keel::io::ns_per_ms;
using keel::io::ns_per_s;

constexpr uint64_t cluster_id = 0x6b65656c;

struct LoadOptions {
  uint64_t seed = 1;
  uint32_t replicas = 3;
  uint32_t clients = 10;
  uint64_t requests_per_s = 1000;  // arrivals, over all clients
  double write_fraction = 0.5;     // SET; else GET
  uint32_t keys = 64;
  bool faults = true;
  uint32_t pipeline_max = 8;
};

// From the command line: --seed, --rate, --pipeline and --no-faults apply to both modes,
// --clients to the memory mode (the speed benchmark takes its client count from its arguments).
LoadOptions flags;

keel::kv::Limits kv_limits() {
  keel::kv::Limits limits;
  limits.key_size_bytes_max = 64;
  limits.value_size_bytes_max = 512;
  limits.keys_max = 256;
  limits.command_keys_max = 8;
  limits.state_size_bytes_max = 64 * 1024;
  return limits;
}

// The shape vsr_sim_config (sim/vsr_protocol.cc) draws, fixed at its largest batch and, unless
// --pipeline says otherwise, its largest pipeline (8; the replica binary's default is 1): the WAL
// wraps every 64 ops and a checkpoint is written every 32.
keel::vsr::Config cluster_config(const LoadOptions& options) {
  keel::vsr::Config config;
  config.replica_count = options.replicas;
  config.pipeline_max = options.pipeline_max;
  config.checkpoint_interval = 32;
  config.wal_slots = 64;
  config.batch_requests_max = 16;
  config.request_queue_max = 64;
  config.clients_max = options.clients;
  config.message_size_bytes_max = 16 * 1024;
  config.checkpoint_chunk_bytes = 4096;
  config.repair_budget = 10;
  config.scrub_budget = 16;
  const keel::kv::KvReplicated probe(kv_limits());
  config.snapshot_size_bytes_max =
      probe.snapshot_size_bytes_max() + uint64_t{config.clients_max} * (1024 + 64) + 64;
  const std::string problem = config.validate();
  if (!problem.empty()) {
    fmt::print(stderr, "bench_vsr: bad config: {}\n", problem);
    std::abort();
  }
  return config;
}

keel::sim::NetworkProfile network_profile(const LoadOptions& options) {
  keel::sim::NetworkProfile profile;
  profile.latency_min_ns = 500'000;
  profile.latency_tail_mean_ns = 500'000;
  if (options.faults) {
    profile.loss_probability = 0.01;
    profile.duplicate_probability = 0.01;
    profile.reorder_probability = 0.01;
    profile.reorder_delay_mean_ns = 5 * ns_per_ms;
  }
  return profile;
}

keel::sim::DiskProfile disk_profile(const LoadOptions& options) {
  keel::sim::DiskProfile profile;
  profile.latency_min_ns = 20'000;
  profile.latency_tail_mean_ns = 100'000;
  profile.slow_probability = options.faults ? 0.001 : 0.0;
  return profile;
}

struct Stats {
  uint64_t arrivals = 0;
  uint64_t shed = 0;  // arrivals dropped because a client's backlog was full
  uint64_t submitted = 0;
  uint64_t ok = 0;
  uint64_t timed_out = 0;
  uint64_t evicted = 0;
  uint64_t latency_ns_total = 0;
  uint64_t latency_ns_max = 0;
  // Latencies of ok requests in 100 us buckets up to 5 s (the last bucket holds the rest): a
  // fixed size, so the memory mode's figures include no growing record of latencies.
  static constexpr uint64_t bucket_ns = 100'000;
  std::vector<uint32_t> latency_buckets = std::vector<uint32_t>(50'000, 0);

  uint64_t completed() const { return ok + timed_out + evicted; }
  void record_latency(uint64_t latency_ns) {
    latency_ns_total += latency_ns;
    latency_ns_max = std::max(latency_ns_max, latency_ns);
    latency_buckets[std::min<uint64_t>(latency_ns / bucket_ns, latency_buckets.size() - 1)]++;
  }
  // Ok requests that took at least latency_ns: with the client's request timeout (500 ms), those
  // that were resent.
  uint64_t slower_than(uint64_t latency_ns) const {
    uint64_t count = 0;
    for (size_t bucket = latency_ns / bucket_ns; bucket < latency_buckets.size(); bucket++) {
      count += latency_buckets[bucket];
    }
    return count;
  }
  // The upper edge of the bucket holding the given quantile, in ms.
  double latency_ms_quantile(double quantile) const {
    const auto rank = static_cast<uint64_t>(quantile * static_cast<double>(ok));
    uint64_t seen = 0;
    for (size_t bucket = 0; bucket < latency_buckets.size(); bucket++) {
      seen += latency_buckets[bucket];
      if (seen > rank) return static_cast<double>((bucket + 1) * bucket_ns) / 1e6;
    }
    return static_cast<double>(latency_ns_max) / 1e6;
  }
};

struct Observer final : keel::vsr::ReplicaObserver {
  std::array<uint64_t, static_cast<size_t>(keel::vsr::ReplicaEvent::count_)> events{};
  void event(uint32_t, keel::vsr::ReplicaEvent e) override { events[static_cast<size_t>(e)]++; }
  uint64_t count(keel::vsr::ReplicaEvent e) const { return events[static_cast<size_t>(e)]; }
  // No convergence checker here: the replicas need not checksum their state per op.
  bool observes_commits() const override { return false; }
};

// One client endpoint: Poisson arrivals at its share of the rate (open loop), submitted one at
// a time through a vsr::Client; arrivals that come while a request is in flight wait in a
// bounded backlog and go as soon as it completes. Latency is measured from submit to outcome, so
// it leaves the backlog's wait out.
class LoadClient {
 public:
  static constexpr uint64_t backlog_max = 64;

  LoadClient(const keel::vsr::Config& config, const LoadOptions& options, keel::sim::SimNode& node,
             Stats& stats)
      : options_(options),
        env_(node.env()),
        stats_(stats),
        random_(keel::io::Random::derive(options.seed ^ 0x6c6f6164, node.id())),
        client_(config, keel::vsr::ClientOptions{}, env_, env_.random.next_u64()),
        arrival_mean_ns_(uint64_t{options.clients} * ns_per_s / options.requests_per_s) {
    schedule_arrival();
  }

 private:
  void schedule_arrival() {
    env_.timers.start(random_.exponential(arrival_mean_ns_), [this] {
      stats_.arrivals++;
      if (in_flight_) {
        if (backlog_ < backlog_max) {
          backlog_++;
        } else {
          stats_.shed++;
        }
      } else {
        issue();
      }
      schedule_arrival();
    });
  }

  void issue() {
    keel::kv::proto::Command command;
    const std::string key = fmt::format("k{}", random_.uniform(options_.keys));
    if (random_.chance(options_.write_fraction)) {
      command.mutable_set()->set_key(key);
      command.mutable_set()->set_value(fmt::format("v{}", values_++));
    } else {
      command.set_get(key);
    }
    in_flight_ = true;
    issued_ns_ = env_.clock.monotonic_ns();
    stats_.submitted++;
    client_.submit(command.SerializeAsString(),
                   [this](const keel::vsr::ClientOutcome& outcome) { complete(outcome); });
  }

  void complete(const keel::vsr::ClientOutcome& outcome) {
    in_flight_ = false;
    switch (outcome.status) {
      case keel::vsr::ClientOutcome::Status::ok: {
        stats_.ok++;
        stats_.record_latency(env_.clock.monotonic_ns() - issued_ns_);
        break;
      }
      case keel::vsr::ClientOutcome::Status::timed_out:
        stats_.timed_out++;
        break;
      case keel::vsr::ClientOutcome::Status::evicted:
        stats_.evicted++;
        break;
    }
    if (backlog_ > 0) {
      backlog_--;
      issue();
    }
  }

  const LoadOptions& options_;
  keel::io::Env env_;
  Stats& stats_;
  keel::io::Random random_;
  keel::vsr::Client client_;
  const uint64_t arrival_mean_ns_;
  bool in_flight_ = false;
  uint64_t backlog_ = 0;
  uint64_t issued_ns_ = 0;
  uint64_t values_ = 0;
};

uint64_t heap_in_use_bytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

class Cluster {
 public:
  explicit Cluster(const LoadOptions& options)
      : options_(options),
        config_(cluster_config(options)),
        network_profile_(network_profile(options)),
        disk_profile_(disk_profile(options)),
        world_(options.seed, options.replicas, trace_),
        network_(world_, options.replicas + options.clients, network_profile_) {
    const uint32_t endpoints = options.replicas + options.clients;
    const uint64_t disk_size_bytes = keel::vsr::Replica::storage_size_bytes(config_);
    std::vector<keel::sim::SimNode*> attached;
    for (NodeId id = 0; id < endpoints; id++) {
      nodes_.push_back(std::make_unique<keel::sim::SimNode>(
          world_, network_, id, cluster_id, keel::sim::ClockSettings{},
          id < options.replicas ? disk_size_bytes : 0, &disk_profile_));
      attached.push_back(nodes_.back().get());
    }
    network_.attach(std::move(attached));
    for (NodeId id = 0; id < options.replicas; id++) {
      nodes_[id]->disk()->format(0, keel::vsr::Replica::format(config_, cluster_id, id));
    }
    const uint64_t heap_before_replicas = heap_in_use_bytes();
    for (NodeId id = 0; id < options.replicas; id++) {
      state_machines_.push_back(std::make_unique<keel::kv::KvReplicated>(kv_limits()));
      replicas_.push_back(std::make_unique<keel::vsr::Replica>(
          config_, nodes_[id]->env(), id, *state_machines_.back(), &observer_));
    }
    replicas_heap_bytes_ = heap_in_use_bytes() - heap_before_replicas;
    for (NodeId id = options.replicas; id < endpoints; id++) {
      clients_.push_back(std::make_unique<LoadClient>(config_, options_, *nodes_[id], stats_));
    }
  }

  // Runs every event due up to deadline_ns (simulated).
  void run_until(uint64_t deadline_ns) {
    while (world_.step(deadline_ns)) {
    }
  }

  // Runs until `completed` requests have an outcome, or the simulated deadline passes.
  bool run_until_completed(uint64_t completed, uint64_t deadline_ns) {
    while (stats_.completed() < completed) {
      if (!world_.step(deadline_ns)) return false;
    }
    return true;
  }

  uint64_t now_ns() const { return world_.now_ns(); }
  const Stats& stats() const { return stats_; }
  const Observer& observer() const { return observer_; }
  const keel::vsr::Config& config() const { return config_; }
  uint64_t events() { return world_.loop().events_run(); }
  uint64_t events(keel::sim::EventKind kind) const { return world_.events_run(kind); }
  uint64_t pending_events() { return world_.loop().pending(); }
  uint64_t trace_hash() const { return trace_.hash(); }
  uint64_t faults() const { return world_.fault_total(); }
  const keel::vsr::Replica& replica(NodeId id) const { return *replicas_[id]; }
  uint32_t replica_count() const { return options_.replicas; }
  // The heap the replicas and their state machines took when they were built (the disks are the
  // simulator's, not theirs).
  uint64_t replicas_heap_bytes() const { return replicas_heap_bytes_; }

 private:
  const LoadOptions options_;
  const keel::vsr::Config config_;
  const keel::sim::NetworkProfile network_profile_;
  const keel::sim::DiskProfile disk_profile_;
  keel::sim::Trace trace_;  // hashed only, never written: it takes no memory
  keel::sim::World world_;
  keel::sim::SimNetwork network_;
  std::vector<std::unique_ptr<keel::sim::SimNode>> nodes_;
  Observer observer_;
  Stats stats_;
  std::vector<std::unique_ptr<keel::kv::KvReplicated>> state_machines_;
  std::vector<std::unique_ptr<keel::vsr::Replica>> replicas_;
  std::vector<std::unique_ptr<LoadClient>> clients_;
  uint64_t replicas_heap_bytes_ = 0;
};

std::string replica_states(const Cluster& cluster) {
  std::string text;
  for (NodeId id = 0; id < cluster.replica_count(); id++) {
    const keel::vsr::Replica& replica = cluster.replica(id);
    text += fmt::format("{}r{}: status {} view {} op {} commit {}/{}{}", id == 0 ? "" : "; ", id,
                        static_cast<int>(replica.status()), replica.view(), replica.op(),
                        replica.commit_min(), replica.commit_max(),
                        replica.primary() ? " primary" : "");
  }
  return text;
}

// Speed: sim_s simulated seconds per iteration, with 1,000 request arrivals per simulated second
// (--rate changes it) spread over `clients` clients, with network faults (1% loss, duplication
// and reordering; none if faults is 0) and disk latency. A client has one request in flight at
// a time, so the achieved rate (requests_per_sim_s) is below the arrival rate when latency is
// above clients / rate; 29 clients is the most the simulated network allows with 3 replicas.
// Each iteration builds a fresh cluster with the same seed, so every iteration must end with the
// same trace hash (the label shows it).
void BM_VsrCluster(benchmark::State& state) {
  LoadOptions options = flags;
  options.faults = flags.faults && state.range(1) != 0;
  options.clients = static_cast<uint32_t>(state.range(2));
  const uint64_t simulated_ns = static_cast<uint64_t>(state.range(0)) * ns_per_s;
  double simulated_s_total = 0;
  double wall_s_total = 0;
  uint64_t ok_total = 0;
  uint64_t completed_total = 0;
  uint64_t events_total = 0;
  // Events by what they do: disk completions, message deliveries, timers (the load's arrivals
  // among them).
  uint64_t disk_events_total = 0;
  uint64_t deliveries_total = 0;
  uint64_t timers_total = 0;
  uint64_t latency_ns_total = 0;
  uint64_t latency_ns_max = 0;
  double latency_ms_p50 = 0;
  double latency_ms_p99 = 0;
  uint64_t resent = 0;
  uint64_t view_changes = 0;
  uint64_t checkpoints = 0;
  uint64_t state_transfers = 0;
  uint64_t faults = 0;
  uint64_t hash_first = 0;
  bool first = true;
  for (auto _ : state) {
    Cluster cluster(options);
    const auto start = std::chrono::steady_clock::now();
    cluster.run_until(simulated_ns);
    const auto stop = std::chrono::steady_clock::now();
    const double wall_s = std::chrono::duration<double>(stop - start).count();
    state.SetIterationTime(wall_s);
    wall_s_total += wall_s;
    simulated_s_total += static_cast<double>(cluster.now_ns()) / 1e9;
    const Stats& stats = cluster.stats();
    ok_total += stats.ok;
    completed_total += stats.completed();
    latency_ns_total += stats.latency_ns_total;
    latency_ns_max = std::max(latency_ns_max, stats.latency_ns_max);
    latency_ms_p50 = stats.latency_ms_quantile(0.50);
    latency_ms_p99 = stats.latency_ms_quantile(0.99);
    resent = stats.slower_than(keel::vsr::ClientOptions{}.request_timeout_ms * ns_per_ms);
    events_total += cluster.events();
    using keel::sim::EventKind;
    disk_events_total += cluster.events(EventKind::disk_read) +
                         cluster.events(EventKind::disk_write) +
                         cluster.events(EventKind::disk_sync);
    deliveries_total += cluster.events(EventKind::deliver);
    timers_total += cluster.events(EventKind::timer);
    view_changes = cluster.observer().count(keel::vsr::ReplicaEvent::view_change_started);
    checkpoints = cluster.observer().count(keel::vsr::ReplicaEvent::checkpoint_written);
    state_transfers = cluster.observer().count(keel::vsr::ReplicaEvent::state_transfer_started);
    faults = cluster.faults();
    if (first) {
      hash_first = cluster.trace_hash();
      first = false;
    } else if (cluster.trace_hash() != hash_first) {
      state.SkipWithError("nondeterministic: the trace hash changed between iterations");
      break;
    }
    if (stats.ok == 0) {
      state.SkipWithError(fmt::format("no request completed in {} simulated s: {}", state.range(0),
                                      replica_states(cluster))
                              .c_str());
      break;
    }
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["simulated_s"] = simulated_s_total / iterations;
  state.counters["requests_per_sim_s"] = static_cast<double>(ok_total) / simulated_s_total;
  state.counters["speedup"] = simulated_s_total / wall_s_total;
  state.counters["events_per_wall_s"] = static_cast<double>(events_total) / wall_s_total;
  const auto per_request = [ok_total](uint64_t count) {
    return ok_total == 0 ? 0.0 : static_cast<double>(count) / static_cast<double>(ok_total);
  };
  state.counters["events_per_request"] = per_request(events_total);
  state.counters["disk_events_per_request"] = per_request(disk_events_total);
  state.counters["deliveries_per_request"] = per_request(deliveries_total);
  state.counters["timers_per_request"] = per_request(timers_total);
  state.counters["wall_us_per_request"] =
      ok_total == 0 ? 0.0 : wall_s_total * 1e6 / static_cast<double>(ok_total);
  state.counters["latency_ms_mean"] =
      ok_total == 0 ? 0
                    : static_cast<double>(latency_ns_total) / static_cast<double>(ok_total) / 1e6;
  state.counters["latency_ms_p50"] = latency_ms_p50;
  state.counters["latency_ms_p99"] = latency_ms_p99;
  state.counters["ok_over_500ms"] = static_cast<double>(resent);
  state.counters["latency_ms_max"] = static_cast<double>(latency_ns_max) / 1e6;
  state.counters["not_ok"] = static_cast<double>(completed_total - ok_total) / iterations;
  state.counters["view_changes"] = static_cast<double>(view_changes);
  state.counters["checkpoints"] = static_cast<double>(checkpoints);
  state.counters["state_transfers"] = static_cast<double>(state_transfers);
  state.counters["net_disk_faults"] = static_cast<double>(faults);
  state.SetItemsProcessed(static_cast<int64_t>(ok_total));
  state.SetLabel(fmt::format("seed {} trace {:016x}", options.seed, hash_first));
}
BENCHMARK(BM_VsrCluster)
    ->ArgNames({"sim_s", "faults", "clients"})
    ->Args({10, 1, 10})
    ->Args({60, 1, 10})
    ->Args({60, 0, 10})
    ->Args({60, 1, 29})
    ->Args({60, 0, 29})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

// Memory: resident set size now (statm), peak (getrusage), and the heap in use (mallinfo2).
struct Memory {
  uint64_t rss_bytes = 0;
  uint64_t rss_peak_bytes = 0;
  uint64_t heap_in_use_bytes = 0;
};

Memory measure_memory() {
  Memory memory;
  if (FILE* file = std::fopen("/proc/self/statm", "r")) {
    unsigned long size_pages = 0;
    unsigned long resident_pages = 0;
    if (std::fscanf(file, "%lu %lu", &size_pages, &resident_pages) == 2) {
      memory.rss_bytes = uint64_t{resident_pages} * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    }
    std::fclose(file);
  }
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    memory.rss_peak_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;
  }
  memory.heap_in_use_bytes = heap_in_use_bytes();
  return memory;
}

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

int run_memory(const LoadOptions& options, uint64_t ops) {
  const Memory before = measure_memory();
  Cluster cluster(options);
  const Memory built = measure_memory();
  const keel::vsr::Config& config = cluster.config();
  fmt::print(
      "bench_vsr memory: {} replicas, {} clients, {} requests/sim s, faults {}, seed {}, {} ops\n",
      options.replicas, options.clients, options.requests_per_s, options.faults ? "on" : "off",
      options.seed, ops);
  fmt::print(
      "replica bounds (fixed by config): wal_slots {}, checkpoint_interval {}, pipeline_max {}, "
      "batch_requests_max {}, request_queue_max {}, clients_max {}, message_size_bytes_max {}, "
      "snapshot_size_bytes_max {}, disk {} bytes per replica\n",
      config.wal_slots, config.checkpoint_interval, config.pipeline_max, config.batch_requests_max,
      config.request_queue_max, config.clients_max, config.message_size_bytes_max,
      config.snapshot_size_bytes_max, keel::vsr::Replica::storage_size_bytes(config));
  fmt::print(
      "process before cluster: rss {:.2f} MiB, heap {:.2f} MiB; after building it: rss "
      "{:.2f} MiB, heap {:.2f} MiB, of which the {} replicas (with their state machines) "
      "{:.1f} KiB and the simulated disks {:.2f} MiB (two images each)\n",
      mib(before.rss_bytes), mib(before.heap_in_use_bytes), mib(built.rss_bytes),
      mib(built.heap_in_use_bytes), options.replicas,
      static_cast<double>(cluster.replicas_heap_bytes()) / 1024.0,
      mib(2 * uint64_t{options.replicas} * keel::vsr::Replica::storage_size_bytes(config)));
  fmt::print("{:>9} {:>9} {:>8} {:>8} {:>10} {:>9} {:>9} {:>9} {:>11} {:>8} {:>8} {:>7}\n", "ops",
             "sim_s", "wall_s", "speedup", "req/sim_s", "rss_MiB", "peak_MiB", "heap_MiB", "events",
             "pending", "r0_commit", "views");
  const std::array<double, 6> fractions{0.01, 0.10, 0.25, 0.50, 0.75, 1.00};
  // Generous: the run stops at the deadline if the cluster stops making progress.
  const uint64_t deadline_ns =
      (ops / std::max<uint64_t>(options.requests_per_s / 2, 1) + 60) * ns_per_s;
  const auto start = std::chrono::steady_clock::now();
  for (double fraction : fractions) {
    const auto target = static_cast<uint64_t>(static_cast<double>(ops) * fraction);
    const bool reached = cluster.run_until_completed(target, deadline_ns);
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const Memory memory = measure_memory();
    const double sim_s = static_cast<double>(cluster.now_ns()) / 1e9;
    const Stats& stats = cluster.stats();
    fmt::print(
        "{:>9} {:>9.1f} {:>8.1f} {:>8.0f} {:>10.1f} {:>9.2f} {:>9.2f} {:>9.2f} {:>11} {:>8} "
        "{:>8} {:>7}\n",
        stats.completed(), sim_s, wall_s, wall_s > 0 ? sim_s / wall_s : 0.0,
        sim_s > 0 ? static_cast<double>(stats.ok) / sim_s : 0.0, mib(memory.rss_bytes),
        mib(memory.rss_peak_bytes), mib(memory.heap_in_use_bytes), cluster.events(),
        cluster.pending_events(), cluster.replica(0).commit_min(),
        cluster.observer().count(keel::vsr::ReplicaEvent::view_change_started));
    std::fflush(stdout);
    if (!reached) {
      fmt::print("stopped: {} of {} ops completed by {:.0f} simulated s: {}\n", stats.completed(),
                 target, sim_s, replica_states(cluster));
      return 1;
    }
  }
  const Stats& stats = cluster.stats();
  fmt::print(
      "requests: {} arrived, {} shed (backlog full), {} submitted, {} ok, {} timed out, {} "
      "evicted; latency mean {:.2f} ms, p50 {:.1f} ms, p99 {:.1f} ms, p99.9 {:.1f} ms, max {:.2f} "
      "ms; checkpoints {}, state transfers {}; "
      "trace {:016x}\n",
      stats.arrivals, stats.shed, stats.submitted, stats.ok, stats.timed_out, stats.evicted,
      stats.ok == 0 ? 0.0 : static_cast<double>(stats.latency_ns_total) / stats.ok / 1e6,
      stats.latency_ms_quantile(0.50), stats.latency_ms_quantile(0.99),
      stats.latency_ms_quantile(0.999), static_cast<double>(stats.latency_ns_max) / 1e6,
      cluster.observer().count(keel::vsr::ReplicaEvent::checkpoint_written),
      cluster.observer().count(keel::vsr::ReplicaEvent::state_transfer_started),
      cluster.trace_hash());
  return 0;
}

bool parse_flag(std::string_view argument, std::string_view name, uint64_t& value) {
  if (!argument.starts_with(name) || argument.size() <= name.size() ||
      argument[name.size()] != '=') {
    return false;
  }
  const std::string text(argument.substr(name.size() + 1));
  char* end = nullptr;
  value = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0') {
    fmt::print(stderr, "bench_vsr: {} wants a number, not '{}'\n", name, text);
    std::exit(2);
  }
  return true;
}

}  // namespace

// --ops=N runs the memory mode and exits; otherwise the arguments go to Google Benchmark.
int main(int argc, char** argv) {
  uint64_t ops = 0;
  LoadOptions& options = flags;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; i++) {
    const std::string_view argument(argv[i]);
    uint64_t value = 0;
    if (parse_flag(argument, "--ops", value)) {
      ops = value;
    } else if (parse_flag(argument, "--rate", value)) {
      options.requests_per_s = std::max<uint64_t>(value, 1);
    } else if (parse_flag(argument, "--clients", value)) {
      // The simulated network has at most 32 endpoints, replicas included.
      options.clients =
          static_cast<uint32_t>(std::clamp<uint64_t>(value, 1, 32 - options.replicas));
    } else if (parse_flag(argument, "--seed", value)) {
      options.seed = value;
    } else if (parse_flag(argument, "--pipeline", value)) {
      if (value < 1 || value > 8) {
        fmt::print(stderr, "bench_vsr: --pipeline wants 1 to 8 (the simulator's range), not {}\n",
                   value);
        return 2;
      }
      options.pipeline_max = static_cast<uint32_t>(value);
    } else if (argument == "--no-faults") {
      options.faults = false;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (ops > 0) return run_memory(options, ops);
  int rest_count = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_count, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_count, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
