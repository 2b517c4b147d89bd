#include "sim/simulator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "sim/disk.h"

namespace keel::sim {
namespace {

Simulator* simulator_active = nullptr;

constexpr uint64_t events_max = 200'000'000;
constexpr uint64_t liveness_requests_per_client = 3;

enum class NemesisAction : uint8_t {
  partition,
  clog_link,
  clog_node,
  client_cutoff,
  crash,
  pause,
  wipe,
  clock_jump,
};

}  // namespace

std::string_view run_result_name(RunResult result) {
  switch (result) {
    case RunResult::pass:
      return "pass";
    case RunResult::correctness_violation:
      return "correctness_violation";
    case RunResult::liveness_violation:
      return "liveness_violation";
    case RunResult::crash:
      return "crash";
    case RunResult::trace_divergence:
      return "trace_divergence";
  }
  return "unknown";
}

Simulator::Simulator(ProtocolUnderTest& protocol, const SimOptions& options, Trace& trace)
    : protocol_(protocol), options_(options), trace_(trace) {
  ProfileLimits limits;
  limits.replicas_min = protocol.replicas_min();
  limits.replicas_max = protocol.replicas_max();
  limits.replicas_forced = options.replicas;
  limits.swarm = options.swarm;
  profile_ = derive_profile(options.seed, limits);
  if (options.adjust_profile) options.adjust_profile(profile_);
  if (!protocol.survives_misdirected_writes()) profile_.disk.misdirect_probability = 0;
  uint64_t world_seed = options.seed;
  if (options.nondeterminism_salt != 0) {
    uint64_t salt = options.nondeterminism_salt;
    world_seed ^= io::splitmix64(salt);
  }
  world_ = std::make_unique<World>(world_seed, profile_.replicas, trace);
  // KEEL_SIM_LOG=1: the nemesis's faults on stderr, interleaved with KEEL_VSR_LOG's steps.
  world_->set_log_faults(std::getenv("KEEL_SIM_LOG") != nullptr);
  world_->storage_budget().set_domain_of(
      [&protocol](uint64_t sector) { return protocol.fault_domain(sector); });
}

Simulator::~Simulator() {
  if (simulator_active == this) {
    simulator_active = nullptr;
    io::set_assertion_handler(nullptr);
  }
  // Processes go before the nodes whose timers and buses they hold references to.
  processes_.clear();
}

void Simulator::boot() {
  const uint32_t replicas = profile_.replicas;
  const uint32_t endpoints = replicas + profile_.clients;
  // The protocol knows its disk size only once it has seen the profile.
  protocol_.setup(profile_, *this);
  world_->storage_budget().set_copy_sectors(protocol_.copy_sectors());
  network_ = std::make_unique<SimNetwork>(*world_, endpoints, profile_.network);
  io::Random& random = world_->random();
  std::vector<SimNode*> attached;
  for (io::NodeId id = 0; id < endpoints; id++) {
    ClockSettings clock;
    const ClockProfile& clock_profile = profile_.clock;
    if (clock_profile.offset_ns_max > 0) {
      clock.offset_ns = static_cast<int64_t>(random.range(0, 2 * clock_profile.offset_ns_max)) -
                        static_cast<int64_t>(clock_profile.offset_ns_max);
      world_->fault(id, FaultKind::clock_offset, static_cast<uint64_t>(clock.offset_ns));
    }
    if (clock_profile.drift_ppm_max > 0) {
      clock.drift_ppm = static_cast<int64_t>(random.range(0, 2 * clock_profile.drift_ppm_max)) -
                        static_cast<int64_t>(clock_profile.drift_ppm_max);
      world_->fault(id, FaultKind::clock_drift, static_cast<uint64_t>(clock.drift_ppm));
    }
    const uint64_t disk_size_bytes = id < replicas ? protocol_.disk_size_bytes() : 0;
    nodes_.push_back(std::make_unique<SimNode>(*world_, *network_, id, options_.cluster_id, clock,
                                               disk_size_bytes, &profile_.disk));
    attached.push_back(nodes_.back().get());
  }
  network_->attach(std::move(attached));
  processes_.resize(endpoints);
  restart_pending_.assign(endpoints, false);
  client_cut_off_until_ns_.assign(endpoints, 0);
  client_completed_in_liveness_.assign(endpoints, 0);

  for (io::NodeId replica = 0; replica < replicas; replica++) {
    protocol_.format(replica, options_.cluster_id, *nodes_[replica]->disk());
  }
  for (io::NodeId id = 0; id < endpoints; id++) {
    io::Env env = nodes_[id]->env();
    processes_[id] =
        id < replicas ? protocol_.start_replica(id, env) : protocol_.start_client(id, env);
  }
}

RunSummary Simulator::run(std::function<int(const RunSummary&)> on_crash) {
  KEEL_ASSERT(phase_ == Phase::setup);
  on_crash_ = std::move(on_crash);
  simulator_active = this;
  io::set_assertion_handler(&Simulator::on_assertion);

  boot();
  phase_ = Phase::safety;
  world_->record(TraceKind::phase, io::node_id_none, static_cast<uint64_t>(phase_), 0);
  if (profile_.nemesis.interval_mean_ns > 0) schedule_nemesis();
  const bool safety_done = run_until(options_.safety_time_max_ns, [this] {
    return requests_completed_ + requests_timed_out_ >= options_.requests;
  });
  safety_phase_timed_out_ = !safety_done && !stopped_;

  if (!stopped_) {
    enter_liveness();
    const uint64_t deadline_ns = world_->now_ns() + options_.liveness_bound_ns;
    if (!run_until(deadline_ns, [this] { return liveness_reached(); }) && !stopped_) {
      stop(RunResult::liveness_violation,
           fmt::format("the core did not converge within {} ms of healing",
                       options_.liveness_bound_ns / io::ns_per_ms));
    }
  }
  if (!stopped_) {
    if (std::optional<std::string> problem = protocol_.check_final()) {
      stop(RunResult::correctness_violation, std::move(*problem));
    }
  }
  phase_ = Phase::done;
  if (!stopped_) stopped_.emplace(RunResult::pass, "");
  return summarize();
}

bool Simulator::run_until(uint64_t deadline_ns, const std::function<bool()>& done) {
  while (!stopped_) {
    if (done()) return true;
    if (trace_.divergence()) {
      stop(RunResult::trace_divergence, "the run diverged from the recorded trace");
      return false;
    }
    if (world_->loop().events_run() >= events_max) {
      stop(RunResult::liveness_violation, fmt::format("event budget of {} exhausted", events_max));
      return false;
    }
    if (!world_->step(deadline_ns)) return done();
  }
  return false;
}

void Simulator::enter_liveness() {
  phase_ = Phase::liveness;
  world_->record(TraceKind::phase, io::node_id_none, static_cast<uint64_t>(phase_), 0);
  network_->heal_all();
  network_->set_faults_enabled(false);
  // Clocks are set right (offsets and jumps undone), as an operator fixing NTP would: protocols
  // may wait for synchronised clocks, and the liveness phase asks for progress once faults are
  // gone. Rate errors stay: they are within what clock synchronisation absorbs.
  for (auto& node : nodes_) node->heal_clock();
  const uint32_t replicas = profile_.replicas;
  for (io::NodeId replica = 0; replica < replicas; replica++) {
    nodes_[replica]->disk()->set_faults_enabled(false);
  }

  const std::vector<io::NodeId> required = protocol_.core_required();
  const std::vector<io::NodeId> chosen =
      choose_core(replicas, required, world_->storage_budget(), world_->random());
  std::vector<bool> in_core(replicas, false);
  for (io::NodeId replica : chosen) in_core[replica] = true;
  core_.clear();
  for (io::NodeId replica = 0; replica < replicas; replica++) {
    if (in_core[replica]) {
      core_.push_back(replica);
      SimNode& node = *nodes_[replica];
      if (!node.up()) restart_replica(replica);
      if (node.paused()) {
        node.resume();
        world_->fault(replica, FaultKind::process_resume, 0);
      }
    } else {
      // Outside the core a replica stays as it is, cut off from everyone.
      for (io::NodeId other = 0; other < network_->endpoint_count(); other++) {
        if (other == replica) continue;
        network_->set_blocked(replica, other, true, SimNetwork::BlockReason::outside_core);
        network_->set_blocked(other, replica, true, SimNetwork::BlockReason::outside_core);
      }
    }
  }
}

std::vector<io::NodeId> Simulator::choose_core(uint32_t replicas,
                                               std::span<const io::NodeId> required,
                                               const StorageFaultBudget& budget,
                                               io::Random& random) {
  const uint32_t quorum = replicas / 2 + 1;
  std::vector<bool> in_core(replicas, false);
  std::vector<io::NodeId> core;
  uint32_t healthy_in_core = 0;
  for (io::NodeId replica : required) {
    KEEL_ASSERT(replica < replicas);
    if (in_core[replica]) continue;
    in_core[replica] = true;
    core.push_back(replica);
    if (!budget.node_faulty(replica)) healthy_in_core++;
  }
  std::vector<io::NodeId> healthy, faulty;
  for (io::NodeId replica = 0; replica < replicas; replica++) {
    if (!in_core[replica]) (budget.node_faulty(replica) ? faulty : healthy).push_back(replica);
  }
  const auto take = [&](std::vector<io::NodeId>& from) {
    const size_t pick = random.uniform(from.size());
    core.push_back(from[pick]);
    from.erase(from.begin() + static_cast<ptrdiff_t>(pick));
  };
  while (healthy_in_core < quorum && !healthy.empty()) {
    take(healthy);
    healthy_in_core++;
  }
  if (healthy_in_core < quorum) {
    while (!faulty.empty()) take(faulty);
  }
  std::sort(core.begin(), core.end());
  return core;
}

bool Simulator::liveness_reached() {
  for (io::NodeId client = profile_.replicas; client < nodes_.size(); client++) {
    if (client_completed_in_liveness_[client] == 0) return false;
  }
  convergence_checks_++;
  return protocol_.converged(core_);
}

bool Simulator::more_requests(io::NodeId client) {
  switch (phase_) {
    case Phase::safety:
      return requests_invoked_ < options_.requests;
    case Phase::liveness:
      return client_completed_in_liveness_[client] < liveness_requests_per_client;
    default:
      return false;
  }
}

void Simulator::client_invoked(io::NodeId client, uint64_t operation, uint64_t argument) {
  requests_invoked_++;
  world_->record(TraceKind::client_invoke, client, operation, argument);
}

void Simulator::client_completed(io::NodeId client, uint64_t operation, bool ok, uint64_t result) {
  world_->record(TraceKind::client_complete, client, operation, ok ? result : UINT64_MAX);
  if (!ok) {
    requests_timed_out_++;
    return;
  }
  requests_completed_++;
  if (phase_ == Phase::liveness) client_completed_in_liveness_[client]++;
}

void Simulator::violation(std::string message) {
  stop(RunResult::correctness_violation, std::move(message));
}

void Simulator::stop(RunResult result, std::string message) {
  if (stopped_) return;  // The first verdict stands.
  world_->record(TraceKind::check, io::node_id_none, static_cast<uint64_t>(result), 0);
  stopped_.emplace(result, std::move(message));
}

RunSummary Simulator::summarize() {
  RunSummary summary;
  KEEL_ASSERT(stopped_);
  summary.result = stopped_->first;
  summary.message = stopped_->second;
  summary.profile = profile_;
  summary.events = world_->loop().events_run();
  summary.simulated_ns = world_->now_ns();
  summary.requests_completed = requests_completed_;
  summary.requests_timed_out = requests_timed_out_;
  summary.safety_phase_timed_out = safety_phase_timed_out_;
  for (const auto& node : nodes_) summary.frames_rejected += node->frames_rejected();
  summary.faults = world_->faults();
  summary.checks = {{"convergence_polls", convergence_checks_},
                    {"liveness_core_size", core_.size()},
                    {"final_safety_check", phase_ == Phase::done ? 1u : 0u}};
  summary.protocol_counters = protocol_.counters();
  summary.trace_records = trace_.records();
  summary.trace_hash = trace_.hash();
  return summary;
}

void Simulator::on_assertion(const char* message) {
  Simulator* simulator = simulator_active;
  if (simulator == nullptr) return;
  simulator->stopped_.reset();
  simulator->stop(RunResult::crash, message);
  const RunSummary summary = simulator->summarize();
  const int exit_code =
      simulator->on_crash_ ? simulator->on_crash_(summary) : static_cast<int>(RunResult::crash);
  std::fflush(stdout);
  std::_Exit(exit_code);
}

void Simulator::schedule_nemesis() {
  const uint64_t delay_ns = 1 + world_->random().exponential(profile_.nemesis.interval_mean_ns);
  world_->loop().schedule(world_->now_ns() + delay_ns,
                          EventTag{io::node_id_none, static_cast<uint16_t>(EventKind::nemesis)},
                          [this] { nemesis_act(); });
}

uint32_t Simulator::replicas_down() const {
  uint32_t down = 0;
  for (io::NodeId replica = 0; replica < profile_.replicas; replica++) {
    if (!nodes_[replica]->up() || nodes_[replica]->paused()) down++;
  }
  return down;
}

void Simulator::nemesis_act() {
  if (phase_ != Phase::safety) return;
  const NemesisProfile& nemesis = profile_.nemesis;
  std::vector<NemesisAction> actions;
  if (nemesis.partitions) actions.push_back(NemesisAction::partition);
  if (nemesis.clogs) {
    actions.push_back(NemesisAction::clog_link);
    actions.push_back(NemesisAction::clog_node);
  }
  if (nemesis.client_cutoffs) actions.push_back(NemesisAction::client_cutoff);
  if (nemesis.crashes) actions.push_back(NemesisAction::crash);
  if (nemesis.pauses) actions.push_back(NemesisAction::pause);
  if (nemesis.wipes) actions.push_back(NemesisAction::wipe);
  if (nemesis.clock_jumps) actions.push_back(NemesisAction::clock_jump);
  schedule_nemesis();
  if (actions.empty()) return;

  io::Random& random = world_->random();
  const uint32_t replicas = profile_.replicas;
  const uint32_t endpoints = network_->endpoint_count();
  const uint64_t duration_ns = 1 + random.exponential(nemesis.fault_duration_mean_ns);
  const uint32_t down_max = replicas_down_max();
  const io::NodeId replica = static_cast<io::NodeId>(random.uniform(replicas));

  switch (actions[random.uniform(actions.size())]) {
    case NemesisAction::partition:
      if (!partition_active_) partition();
      break;
    case NemesisAction::clog_link: {
      const io::NodeId from = static_cast<io::NodeId>(random.uniform(endpoints));
      const io::NodeId to = static_cast<io::NodeId>(random.uniform(endpoints));
      if (from == to) break;
      network_->clog(from, to, world_->now_ns() + duration_ns);
      world_->fault(from, FaultKind::net_clog_link, to);
      break;
    }
    case NemesisAction::clog_node: {
      const io::NodeId node = static_cast<io::NodeId>(random.uniform(endpoints));
      network_->clog_node(node, world_->now_ns() + duration_ns);
      world_->fault(node, FaultKind::net_clog_node, duration_ns);
      break;
    }
    case NemesisAction::client_cutoff: {
      const io::NodeId client =
          replicas + static_cast<io::NodeId>(random.uniform(profile_.clients));
      cut_off_client(client, world_->now_ns() + duration_ns);
      world_->fault(client, FaultKind::client_cutoff, duration_ns);
      break;
    }
    case NemesisAction::crash:
      if (nodes_[replica]->up() && !restart_pending_[replica] && replicas_down() < down_max) {
        crash_replica(replica, false);
      }
      break;
    case NemesisAction::pause:
      if (nodes_[replica]->up() && !nodes_[replica]->paused() && replicas_down() < down_max) {
        nodes_[replica]->pause();
        world_->fault(replica, FaultKind::process_pause, duration_ns);
        world_->loop().schedule(world_->now_ns() + duration_ns,
                                EventTag{replica, static_cast<uint16_t>(EventKind::resume)},
                                [this, replica] {
                                  SimNode& node = *nodes_[replica];
                                  if (!node.up() || !node.paused()) return;
                                  node.resume();
                                  world_->fault(replica, FaultKind::process_resume, 0);
                                });
      }
      break;
    case NemesisAction::wipe:
      if (nodes_[replica]->up() && !restart_pending_[replica] && replicas_down() < down_max &&
          world_->storage_budget().allows_wipe(replica)) {
        crash_replica(replica, true);
      }
      break;
    case NemesisAction::clock_jump: {
      const io::NodeId node = static_cast<io::NodeId>(random.uniform(endpoints));
      const int64_t jump_max = static_cast<int64_t>(profile_.clock.jump_ns_max);
      const int64_t delta =
          static_cast<int64_t>(random.range(0, 2 * profile_.clock.jump_ns_max)) - jump_max;
      nodes_[node]->clock_jump(delta);
      world_->fault(node, FaultKind::clock_jump, static_cast<uint64_t>(delta));
      break;
    }
  }
}

uint32_t Simulator::replicas_down_max() const {
  return std::max<uint32_t>(1, (profile_.replicas - 1) / 2);
}

void Simulator::critical_moment(io::NodeId replica) {
  KEEL_ASSERT(replica < profile_.replicas);
  const NemesisProfile& nemesis = profile_.nemesis;
  KEEL_ASSERT(nemesis.moment_crash_probability == 0 || nemesis.crashes);
  maybe_aim(replica, nemesis.moment_crash_probability, nemesis.moment_crash_delay_mean_ns,
            [this, replica] {
              if (phase_ != Phase::safety || !nodes_[replica]->up() || restart_pending_[replica] ||
                  replicas_down() >= replicas_down_max()) {
                return;
              }
              const uint64_t downtime_ns = crash_replica(replica, false);
              world_->fault(replica, FaultKind::process_crash_at_moment, 0);
              aim_at_moment_crash(replica, downtime_ns);
            });
}

void Simulator::primary_started(io::NodeId replica) {
  KEEL_ASSERT(replica < profile_.replicas);
  const NemesisProfile& nemesis = profile_.nemesis;
  KEEL_ASSERT(nemesis.rotate_probability == 0 || nemesis.partitions);
  maybe_aim(replica, nemesis.rotate_probability, nemesis.rotate_delay_mean_ns,
            [this, replica] { rotate_isolation(replica); });
}

void Simulator::maybe_aim(io::NodeId replica, double probability, uint64_t delay_mean_ns,
                          io::Callback fault) {
  // No draw at all where the profile has none: other seeds' runs stay as they were.
  if (phase_ != Phase::safety || probability == 0) return;
  io::Random& random = world_->random();
  if (!random.chance(probability)) return;
  const uint64_t delay_ns = 1 + random.exponential(delay_mean_ns);
  world_->loop().schedule(world_->now_ns() + delay_ns,
                          EventTag{replica, static_cast<uint16_t>(EventKind::control)},
                          std::move(fault));
}

// The partition in force heals and the given primary is cut off from the other replicas. Clients
// still reach it, so it goes on preparing their requests, which no one acknowledges: its log
// grows past the new view's (VRR's partitioned old primary that still receives requests).
void Simulator::rotate_isolation(io::NodeId primary) {
  if (phase_ != Phase::safety || protocol_.leader() != primary) return;
  network_->unblock_all(SimNetwork::BlockReason::partition);
  const uint64_t side = uint64_t{1} << primary;
  network_->partition(side, profile_.replicas, false);
  partition_active_ = true;
  world_->fault(primary, FaultKind::partition_rotate, side);
  heal_partition_later(1 + world_->random().exponential(profile_.nemesis.fault_duration_mean_ns));
}

// Stranding a commit, first step: the primary loses touch with enough backups (the laggards)
// that it commits with the others alone, and the laggards fall behind. The partition in force
// heals first.
void Simulator::strand_lag(io::NodeId primary) {
  const uint32_t replicas = profile_.replicas;
  if (phase_ != Phase::safety || protocol_.leader() != primary || replicas < 3) return;
  io::Random& random = world_->random();
  const uint32_t quorum = replicas / 2 + 1;
  std::vector<io::NodeId> backups;
  for (io::NodeId r = 0; r < replicas; r++) {
    if (r != primary) backups.push_back(r);
  }
  // The laggards, as many as a commit can leave out (the primary and the rest are a quorum),
  // drawn without replacement.
  uint64_t laggards = 0;
  for (uint32_t i = 0; i < replicas - quorum; i++) {
    const size_t pick = i + random.uniform(backups.size() - i);
    std::swap(backups[i], backups[pick]);
    laggards |= uint64_t{1} << backups[i];
  }
  network_->unblock_all(SimNetwork::BlockReason::partition);
  for (io::NodeId r = 0; r < replicas; r++) {
    if ((laggards >> r) & 1) {
      network_->set_blocked(primary, r, true);
      network_->set_blocked(r, primary, true);
    }
  }
  partition_active_ = true;
  world_->fault(primary, FaultKind::strand_lag, laggards);
  const uint64_t lag_ns = 1 + random.exponential(profile_.nemesis.strand_lag_mean_ns);
  strand_ = Strand{primary, laggards, world_->now_ns() + lag_ns,
                   static_cast<uint32_t>(random.range(1, 3))};
  heal_partition_later(lag_ns);  // unless the strike replaces it
}

void Simulator::commit_counted(io::NodeId replica) {
  const NemesisProfile& nemesis = profile_.nemesis;
  // No draw at all where the profile has none: other seeds' runs stay as they were.
  if (phase_ != Phase::safety || nemesis.strand_probability == 0) return;
  KEEL_ASSERT(nemesis.crashes);
  const bool lagging = strand_.primary != io::node_id_none && strand_.commits_left > 0;
  if (lagging && world_->now_ns() > strand_.until_ns) {
    strand_ = Strand{};  // the lag ended without the commits it waited for
  }
  if (strand_.primary == io::node_id_none) {
    if (world_->random().chance(nemesis.strand_probability)) strand_lag(replica);
    return;
  }
  if (strand_.primary != replica || strand_.commits_left == 0) return;
  if (--strand_.commits_left > 0) return;
  // Not inside the replica's own step: the strike crashes another replica. Until it runs, no
  // other stranding starts.
  world_->loop().schedule(world_->now_ns(),
                          EventTag{replica, static_cast<uint16_t>(EventKind::control)},
                          [this] { strand_strike(); });
}

// Second step, as the primary counts a commit that the laggards took no part in: the primary is
// cut off from every replica, and one backup that kept up crashes with every block of its latest
// writes failed (the op just committed among them). The committed op's only intact copy is now
// out of reach: the view change among the others must wait for it, and never take the failed
// slot for a nack (Alagappan et al., FAST 2018) nor the laggards' logs for the whole truth.
void Simulator::strand_strike() {
  KEEL_ASSERT(strand_.primary != io::node_id_none && strand_.commits_left == 0);
  const io::NodeId primary = strand_.primary;
  const uint64_t laggards = strand_.laggards;
  strand_ = Strand{};
  if (phase_ != Phase::safety || protocol_.leader() != primary) return;
  io::Random& random = world_->random();
  std::vector<io::NodeId> kept_up;
  for (io::NodeId r = 0; r < profile_.replicas; r++) {
    if (r != primary && ((laggards >> r) & 1) == 0 && nodes_[r]->up() && !restart_pending_[r]) {
      kept_up.push_back(r);
    }
  }
  if (kept_up.empty() || replicas_down() >= replicas_down_max()) return;
  const io::NodeId victim = kept_up[random.uniform(kept_up.size())];
  network_->unblock_all(SimNetwork::BlockReason::partition);
  network_->partition(uint64_t{1} << primary, profile_.replicas, false);
  partition_active_ = true;
  const uint64_t downtime_ns = crash_replica(victim, false);
  const uint32_t blocks_failed = nodes_[victim]->disk()->fail_recent_blocks();
  world_->fault(victim, FaultKind::strand_strike, blocks_failed);
  // The primary comes back only after the victim has, and only after the others have had time
  // to give up on it and run a view change that meets the damage: a protocol's failure detector
  // is in the hundreds of milliseconds (VSR's heartbeat_timeout_ms 300).
  constexpr uint64_t isolation_ns_min = 1'000'000'000;
  heal_partition_later(downtime_ns + isolation_ns_min +
                       random.exponential(profile_.nemesis.fault_duration_mean_ns));
}

// What else a moment crash does, each by the profile's chance (no draw where it has none).
void Simulator::aim_at_moment_crash(io::NodeId replica, uint64_t downtime_ns) {
  const NemesisProfile& nemesis = profile_.nemesis;
  io::Random& random = world_->random();
  if (nemesis.moment_damage_probability > 0 && random.chance(nemesis.moment_damage_probability) &&
      nodes_[replica]->disk()->damage_recent_block(random.chance(0.5))) {
    world_->fault(replica, FaultKind::disk_moment_damage, 0);
  }
  if (nemesis.moment_bridge_probability > 0 && profile_.replicas >= 3 &&
      random.chance(nemesis.moment_bridge_probability)) {
    // It restarts as a bridge, which lasts a while after: a promise it lost in the crash meets
    // the side it made it against. The partition in force, if any, is usually what started the
    // view change, so the bridge spans it; else the others are split at random.
    const uint64_t duration_ns =
        downtime_ns + 1 + random.exponential(nemesis.fault_duration_mean_ns);
    if (partition_active_) {
      for (io::NodeId other = 0; other < network_->endpoint_count(); other++) {
        network_->set_blocked(replica, other, false);
        network_->set_blocked(other, replica, false);
      }
    } else {
      partition_bridge(replica);
    }
    heal_partition_later(duration_ns);
    world_->fault(replica, FaultKind::partition_moment_bridge, duration_ns);
  }
}

void Simulator::cut_off_client(io::NodeId client, uint64_t until_ns) {
  for (io::NodeId r = 0; r < profile_.replicas; r++) {
    network_->set_blocked(client, r, true, SimNetwork::BlockReason::client_cutoff);
    network_->set_blocked(r, client, true, SimNetwork::BlockReason::client_cutoff);
  }
  // Cutoffs of one client may overlap: only the end of the latest one reconnects it.
  client_cut_off_until_ns_[client] = std::max(client_cut_off_until_ns_[client], until_ns);
  world_->loop().schedule(
      until_ns, EventTag{client, static_cast<uint16_t>(EventKind::control)}, [this, client] {
        if (phase_ != Phase::safety) return;
        if (world_->now_ns() < client_cut_off_until_ns_[client]) return;
        for (io::NodeId r = 0; r < profile_.replicas; r++) {
          network_->set_blocked(client, r, false, SimNetwork::BlockReason::client_cutoff);
          network_->set_blocked(r, client, false, SimNetwork::BlockReason::client_cutoff);
        }
      });
}

uint64_t Simulator::crash_replica(io::NodeId replica, bool wipe) {
  SimNode& node = *nodes_[replica];
  KEEL_ASSERT(node.up());
  processes_[replica].reset();  // Volatile state is gone.
  node.crash();
  world_->fault(replica, FaultKind::process_crash, 0);
  if (wipe) {
    node.disk()->wipe();
    world_->storage_budget().mark_wiped(replica);
    world_->fault(replica, FaultKind::process_wipe, 0);
  }
  restart_pending_[replica] = true;
  const uint64_t downtime_ns =
      1 + world_->random().exponential(profile_.nemesis.fault_duration_mean_ns);
  world_->loop().schedule(world_->now_ns() + downtime_ns,
                          EventTag{replica, static_cast<uint16_t>(EventKind::control)},
                          [this, replica] { restart_replica(replica); });
  return downtime_ns;
}

void Simulator::restart_replica(io::NodeId replica) {
  restart_pending_[replica] = false;
  SimNode& node = *nodes_[replica];
  if (node.up()) return;  // The liveness phase restarted it already.
  node.restart();
  world_->fault(replica, FaultKind::process_restart, 0);
  processes_[replica] = protocol_.start_replica(replica, node.env());
}

void Simulator::partition() {
  io::Random& random = world_->random();
  const uint32_t replicas = profile_.replicas;
  const uint32_t endpoints = network_->endpoint_count();
  uint64_t side = 0;  // bit i: endpoint i is on the first side
  uint32_t scope = endpoints;
  bool one_way = false;
  FaultKind kind;
  // Shape 4, the bridge, needs three replicas: two groups and the bridge between them.
  const uint64_t shape = replicas >= 3
                             ? random.uniform(5)
                             : (replicas == 2 ? random.uniform(4) : 2 + random.uniform(2));
  if (shape == 4) {
    const io::NodeId bridge = static_cast<io::NodeId>(random.uniform(replicas));
    partition_bridge(bridge);
    heal_partition_later(1 + random.exponential(profile_.nemesis.fault_duration_mean_ns));
    return;
  }
  if (shape <= 1) {
    // A proper, non-empty subset of the replicas; clients stay in touch with both sides.
    side = random.range(1, (uint64_t{1} << replicas) - 2);
    scope = replicas;
    one_way = shape == 1;
    kind = one_way ? FaultKind::partition_asymmetric : FaultKind::partition_symmetric;
  } else if (shape == 2) {
    // Half the isolations aim at the leader, where one exists (Jepsen's isolate-the-primary).
    const std::optional<io::NodeId> leader = protocol_.leader();
    const bool at_leader = leader.has_value() && random.chance(0.5);
    side = uint64_t{1} << (at_leader ? *leader : random.uniform(replicas));
    kind = FaultKind::partition_isolate;
  } else {
    for (io::NodeId id = 0; id < endpoints; id++) side |= uint64_t{random.chance(0.5)} << id;
    kind = FaultKind::partition_random_split;
  }
  network_->partition(side, scope, one_way);
  partition_active_ = true;
  world_->fault(io::node_id_none, kind, side);  // The detail is the side mask.
  heal_partition_later(1 + random.exponential(profile_.nemesis.fault_duration_mean_ns));
}

// Jepsen's bridge: the replicas but one split in two groups that cannot reach each other, and
// the remaining replica reaches both. Each group may think the other's replicas are down, while
// the bridge hears from everyone: where a replica's promise to one side is broken (a vote lost
// in a crash, say), the other side's view can proceed without noticing.
void Simulator::partition_bridge(io::NodeId bridge) {
  io::Random& random = world_->random();
  const uint32_t replicas = profile_.replicas;
  KEEL_ASSERT(replicas >= 3);
  KEEL_ASSERT(bridge < replicas);
  KEEL_ASSERT(!partition_active_);
  std::vector<io::NodeId> others;
  for (io::NodeId r = 0; r < replicas; r++) {
    if (r != bridge) others.push_back(r);
  }
  // A non-empty proper subset of the others is the first group.
  const uint64_t group_mask = random.range(1, (uint64_t{1} << others.size()) - 2);
  uint64_t side = 0;
  for (size_t i = 0; i < others.size(); i++) {
    if ((group_mask >> i) & 1) side |= uint64_t{1} << others[i];
  }
  for (const io::NodeId from : others) {
    for (const io::NodeId to : others) {
      if (((side >> from) & 1) != ((side >> to) & 1)) network_->set_blocked(from, to, true);
    }
  }
  partition_active_ = true;
  // The detail: the first group's mask, and the bridge above bit 32.
  world_->fault(io::node_id_none, FaultKind::partition_bridge, side | (uint64_t{bridge} << 32));
}

void Simulator::heal_partition_later(uint64_t duration_ns) {
  // Only the latest partition's heal heals: an earlier one's must not cut a replacement short.
  const uint64_t partition = ++partitions_made_;
  world_->loop().schedule(world_->now_ns() + duration_ns,
                          EventTag{io::node_id_none, static_cast<uint16_t>(EventKind::control)},
                          [this, partition] {
                            if (phase_ != Phase::safety || partition != partitions_made_) return;
                            network_->unblock_all(SimNetwork::BlockReason::partition);
                            partition_active_ = false;
                            world_->fault(io::node_id_none, FaultKind::partition_heal, 0);
                          });
}

}  // namespace keel::sim
