#include "sim/vsr_protocol.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "core/vsr/client.h"
#include "core/vsr/header.h"
#include "core/vsr/replica.h"
#include "core/vsr/superblock.h"
#include "core/vsr/wire.h"
#include "io/assert.h"
#include "sim/convergence.h"
#include "sim/disk.h"
#include "sim/kv_workload.h"
#include "sim/linearizability.h"
#include "sim/resp_front.h"
#include "sim/vsr_commits.h"
#include "sim/vsr_promises.h"
#include "workloads/kv/replicated.h"

namespace keel::sim {
namespace {

constexpr uint32_t keys_in_workload = 8;

kv::Limits sim_kv_limits() {
  kv::Limits limits;
  limits.key_size_bytes_max = 64;
  limits.value_size_bytes_max = 512;
  limits.keys_max = 64;
  limits.command_keys_max = 8;
  limits.state_size_bytes_max = 16 * 1024;
  return limits;
}

// One choice per run, from the profile: a run's shape follows from its seed alone.
uint64_t shape_bits(const Profile& profile) {
  const std::string text = profile.describe();
  return XXH3_64bits(text.data(), text.size());
}

}  // namespace

vsr::Config vsr_sim_config(const Profile& profile) {
  uint64_t bits = shape_bits(profile);
  const auto pick = [&bits](uint64_t choices) {
    const uint64_t choice = bits % choices;
    bits /= choices;
    return choice;
  };
  vsr::Config config;
  config.replica_count = profile.replicas;
  const std::array<uint32_t, 4> pipelines{1, 2, 4, 8};
  config.pipeline_max = pipelines[pick(pipelines.size())];
  const std::array<uint64_t, 3> intervals{8, 16, 32};
  config.checkpoint_interval = intervals[pick(intervals.size())];
  const std::array<uint64_t, 3> spare_slots{0, 8, 32};
  config.wal_slots =
      config.checkpoint_interval + 2 * uint64_t{config.pipeline_max} + spare_slots[pick(3)];
  const std::array<uint32_t, 3> batches{1, 4, 16};
  config.batch_requests_max = batches[pick(batches.size())];
  config.request_queue_max = 64;
  // Fewer sessions than clients in a third of the runs: sessions get evicted.
  config.clients_max = pick(3) == 0 && profile.clients > 1 ? profile.clients - 1 : profile.clients;
  // Drawn last: the shapes drawn above stay what they were before it existed.
  const std::array<uint64_t, 3> batch_delays_us{0, 300, 3000};
  config.batch_delay_us = batch_delays_us[pick(batch_delays_us.size())];
  config.message_size_bytes_max = 16 * 1024;
  config.checkpoint_chunk_bytes = 4096;
  config.repair_budget = 10;
  config.scrub_budget = 16;
  const kv::KvReplicated probe(sim_kv_limits());
  // The snapshot holds the store and each session's latest reply.
  config.snapshot_size_bytes_max =
      probe.snapshot_size_bytes_max() + uint64_t{config.clients_max} * (1024 + 64) + 64;
  KEEL_ASSERT(config.validate().empty());
  return config;
}

struct VsrProtocol::Shared final : vsr::ReplicaObserver {
  vsr::Config config;
  RunContext* context = nullptr;
  Profile profile;
  std::vector<vsr::Replica*> replicas;
  std::vector<SimDisk*> disks;              // by replica, from format()
  std::optional<VsrPromiseAudit> promises;  // once the cluster id is known
  VsrCommitOracle commits;
  std::vector<KeyOperation> history;
  uint64_t next_operation_id = 0;
  ConvergenceChecker convergence;
  std::array<uint64_t, static_cast<size_t>(vsr::ReplicaEvent::count_)> events{};
  // KEEL_VSR_LOG=1 prints the replicas' protocol steps to stderr; it changes no decision.
  bool log_enabled = std::getenv("KEEL_VSR_LOG") != nullptr;

  void committed(uint32_t replica, uint64_t op, uint64_t header_checksum,
                 uint64_t state_checksum) override {
    std::optional<std::string> violation =
        convergence.committed(replica, op, header_checksum, state_checksum);
    if (violation) context->violation(std::move(*violation));
    violation = commits.applied(replica, op, header_checksum);
    if (violation) context->violation("commit: " + std::move(*violation));
  }

  void commit_counted(uint32_t replica, uint64_t view, uint64_t op,
                      uint64_t header_checksum) override {
    std::optional<std::string> violation = commits.counted(replica, view, op, header_checksum);
    if (!violation) violation = held_by_quorum(replica, view, op, header_checksum);
    if (violation) context->violation("commit: " + std::move(*violation));
    context->commit_counted(replica);
  }

  // Calls use with the image a crash of replica would leave (sim/vsr_promises.h), and returns
  // what it returns.
  template <typename Use>
  auto with_durable_image(uint32_t replica, Use use) const {
    KEEL_ASSERT(replica < disks.size());
    const SimDisk& disk = *disks[replica];
    const auto faulty = [&disk](uint64_t sector) { return disk.durable_sector_faulty(sector); };
    return use(DurableImage{disk.durable_bytes(), faulty, disk.wipes()});
  }

  // A counted op must be durable on a quorum (VRR 4.1 step 5, with disks): the backups whose
  // audited acknowledgements name it, and, if the count needs it, the primary itself.
  std::optional<std::string> held_by_quorum(uint32_t replica, uint64_t view, uint64_t op,
                                            uint64_t checksum) const {
    const uint32_t quorum = config.replica_count / 2 + 1;
    const uint32_t backups = commits.acknowledged_by(view, op, replica);
    if (backups >= quorum) return std::nullopt;
    if (backups + 1 < quorum) {
      return fmt::format(
          "replica {} counted op {} committed in view {}, but only {} backups acknowledged it "
          "there: with itself, fewer than a quorum of {}",
          replica, op, view, backups, quorum);
    }
    KEEL_ASSERT(promises.has_value());
    const vsr::Replica* primary = replicas[replica];
    KEEL_ASSERT(primary != nullptr);
    return with_durable_image(replica, [&](const DurableImage& image) {
      return promises->audit_own_hold(replica, view, op, checksum, primary->commit_min(), image);
    });
  }

  bool logging() const override { return log_enabled; }
  void log(uint32_t replica, std::string_view line) override {
    fmt::print(stderr, "{:>12.6f} r{} {}\n", static_cast<double>(context->now_ns()) / 1e9, replica,
               line);
  }

  void event(uint32_t replica, vsr::ReplicaEvent e) override {
    events[static_cast<size_t>(e)]++;
    // It is about to vote, or has decided to: the vote must be durable before it is sent
    // (VRR 4.2, section 5).
    if (e == vsr::ReplicaEvent::view_change_started || e == vsr::ReplicaEvent::view_change_voted) {
      context->critical_moment(replica);
    }
    if (e == vsr::ReplicaEvent::view_started && replicas[replica] != nullptr &&
        replicas[replica]->primary()) {
      context->primary_started(replica);
    }
  }
};

namespace {

// A replica's bus, checking what each message promises against the replica's disk as a crash
// would leave it (sim/vsr_promises.h) before it goes out.
class PromiseCheckingBus final : public io::MessageBus {
 public:
  PromiseCheckingBus(VsrProtocol::Shared& shared, io::NodeId id, io::MessageBus& inner)
      : shared_(shared), id_(id), inner_(inner) {}

  io::NodeId self() const override { return inner_.self(); }
  void set_receiver(Receiver receiver) override { inner_.set_receiver(std::move(receiver)); }
  void send(io::NodeId to, uint16_t kind, std::span<const uint8_t> body) override {
    check(kind, body);
    inner_.send(to, kind, body);
  }

 private:
  void check(uint16_t kind, std::span<const uint8_t> body) {
    const vsr::Kind k = static_cast<vsr::Kind>(kind);
    if (k != vsr::Kind::prepare_ok && k != vsr::Kind::do_view_change &&
        k != vsr::Kind::start_view) {
      return;
    }
    KEEL_ASSERT(shared_.promises.has_value());
    const vsr::Replica* replica = shared_.replicas[id_];
    const uint64_t commit_min = replica == nullptr ? 0 : replica->commit_min();
    std::optional<std::string> broken =
        shared_.with_durable_image(id_, [&](const DurableImage& image) {
          return shared_.promises->audit(id_, kind, body, commit_min, image);
        });
    if (broken) shared_.context->violation("promise: " + std::move(*broken));
    if (k == vsr::Kind::prepare_ok && !broken) {
      vsr::proto::PrepareOk ok;
      const bool parsed = vsr::parse_message(body, ok);
      KEEL_ASSERT(parsed);  // the audit parsed it
      shared_.commits.acknowledged(id_, ok.view(), ok.op());
    }
    if (k == vsr::Kind::start_view) {
      vsr::proto::StartView start;
      const bool parsed = vsr::parse_message(body, start);
      KEEL_ASSERT(parsed);  // the audit parsed it
      broken = shared_.commits.announced(id_, start);
      if (broken) shared_.context->violation("commit: " + std::move(*broken));
    }
  }

  VsrProtocol::Shared& shared_;
  const io::NodeId id_;
  io::MessageBus& inner_;
};

class ReplicaProcess final : public Process {
 public:
  ReplicaProcess(VsrProtocol::Shared& shared, io::NodeId id, io::Env env)
      : shared_(shared),
        id_(id),
        bus_(shared, id, env.bus),
        env_{env.clock, env.timers, bus_, env.random, env.storage, env.cluster_id},
        state_machine_(sim_kv_limits()),
        replica_(shared.config, env_, id, state_machine_, &shared) {
    KEEL_ASSERT(shared_.replicas[id_] == nullptr);
    shared_.replicas[id_] = &replica_;
  }
  ~ReplicaProcess() override { shared_.replicas[id_] = nullptr; }

 private:
  VsrProtocol::Shared& shared_;
  const io::NodeId id_;
  PromiseCheckingBus bus_;
  io::Env env_;
  kv::KvReplicated state_machine_;
  vsr::Replica replica_;
};

class ClientProcess final : public Process {
 public:
  ClientProcess(VsrProtocol::Shared& shared, io::NodeId id, io::Env env, VsrFront front)
      : client_(shared.config, client_options(), env, env.random.next_u64()),
        front_(front == VsrFront::resp ? std::make_unique<RespFront>(resp_options(), client_)
                                       : nullptr),
        workload_(workload_options(shared.profile), env, id, *shared.context, shared.history,
                  shared.next_operation_id,
                  [this](std::string command,
                         absl::AnyInvocable<void(bool known, std::string result)> done) {
                    if (front_ != nullptr) {
                      front_->submit(std::move(command), std::move(done));
                      return;
                    }
                    client_.submit(
                        std::move(command),
                        [done = std::move(done)](const vsr::ClientOutcome& outcome) mutable {
                          const bool known = outcome.status == vsr::ClientOutcome::Status::ok;
                          done(known, known ? outcome.result : std::string());
                        });
                  }) {}

 private:
  static resp::RespSessionOptions resp_options() {
    resp::RespSessionOptions options;
    options.reply_value_size_bytes_max = sim_kv_limits().value_size_bytes_max;
    return options;
  }

  // Clients keep trying for 10 s before they give up on a request: every give-up leaves an
  // operation of unknown outcome, which the linearizability search must place.
  static vsr::ClientOptions client_options() {
    vsr::ClientOptions options;
    options.request_timeout_ms = 500;
    options.attempts_max = 20;
    return options;
  }

  static KvWorkloadOptions workload_options(const Profile& profile) {
    KvWorkloadOptions options;
    options.keys = keys_in_workload;
    options.value_size_bytes_max = 16;
    options.write_fraction = profile.write_fraction;
    options.think_mean_ns = profile.client_think_mean_ns;
    return options;
  }

  vsr::Client client_;
  std::unique_ptr<RespFront> front_;  // resp only
  KvWorkload workload_;
};

}  // namespace

VsrProtocol::VsrProtocol(VsrFront front) : front_(front), shared_(std::make_unique<Shared>()) {}
VsrProtocol::~VsrProtocol() = default;

uint64_t VsrProtocol::disk_size_bytes() const {
  KEEL_ASSERT(shared_->context != nullptr);
  return vsr::Replica::storage_size_bytes(shared_->config);
}

void VsrProtocol::setup(const Profile& profile, RunContext& context) {
  KEEL_ASSERT(profile.replicas >= replicas_min() && profile.replicas <= replicas_max());
  shared_->profile = profile;
  shared_->context = &context;
  shared_->config = vsr_sim_config(profile);
  shared_->replicas.assign(profile.replicas, nullptr);
  shared_->disks.assign(profile.replicas, nullptr);
}

void VsrProtocol::format(io::NodeId replica, uint64_t cluster_id, SimDisk& disk) {
  const std::vector<uint8_t> zone = vsr::Replica::format(shared_->config, cluster_id, replica);
  disk.format(0, zone);
  KEEL_ASSERT(replica < shared_->disks.size());
  shared_->disks[replica] = &disk;
  if (!shared_->promises) shared_->promises.emplace(shared_->config, cluster_id);
}

std::unique_ptr<Process> VsrProtocol::start_replica(io::NodeId replica, io::Env env) {
  return std::make_unique<ReplicaProcess>(*shared_, replica, env);
}

std::unique_ptr<Process> VsrProtocol::start_client(io::NodeId client, io::Env env) {
  return std::make_unique<ClientProcess>(*shared_, client, env, front_);
}

std::vector<uint64_t> VsrProtocol::copy_sectors() const {
  // The superblock's copies, one sector each (core/vsr/superblock.h).
  const vsr::Layout layout(shared_->config);
  const uint64_t first = layout.superblock_offset_bytes / io::BlockStorage::sector_size_bytes;
  std::vector<uint64_t> sectors;
  for (uint64_t copy = 0; copy < vsr::Superblock::copies; copy++) sectors.push_back(first + copy);
  return sectors;
}

uint64_t VsrProtocol::fault_domain(uint64_t sector) const {
  return vsr::Replica::fault_domain(shared_->config, sector);
}

std::optional<io::NodeId> VsrProtocol::leader() const {
  std::optional<io::NodeId> found;
  uint64_t view = 0;
  for (io::NodeId id = 0; id < shared_->replicas.size(); id++) {
    const vsr::Replica* replica = shared_->replicas[id];
    if (replica == nullptr || !replica->primary()) continue;
    if (!found || replica->view() > view) {
      found = id;
      view = replica->view();
    }
  }
  return found;
}

bool VsrProtocol::converged(std::span<const io::NodeId> core) {
  const vsr::Replica* first = nullptr;
  bool primary_in_core = false;
  for (io::NodeId id : core) {
    const vsr::Replica* replica = shared_->replicas[id];
    if (replica == nullptr || replica->status() != vsr::Status::normal || !replica->idle()) {
      return false;
    }
    if (first == nullptr) first = replica;
    if (replica->view() != first->view() || replica->commit_min() != first->commit_min() ||
        replica->state_checksum() != first->state_checksum()) {
      return false;
    }
    if (replica->primary()) primary_in_core = true;
  }
  return first != nullptr && primary_in_core;
}

std::optional<std::string> VsrProtocol::check_final() {
  const LinearizabilityResult result = check_linearizability(shared_->history);
  switch (result.verdict) {
    case LinearizabilityResult::Verdict::linearizable:
      return std::nullopt;
    case LinearizabilityResult::Verdict::unknown:
      return fmt::format("linearizability: unknown (the search ran out of its budget on key {})",
                         result.key);
    case LinearizabilityResult::Verdict::not_linearizable:
      return "linearizability: " + result.report;
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, uint64_t>> VsrProtocol::counters() const {
  std::vector<std::pair<std::string, uint64_t>> counters;
  for (size_t e = 0; e < shared_->events.size(); e++) {
    counters.emplace_back(vsr::replica_event_name(static_cast<vsr::ReplicaEvent>(e)),
                          shared_->events[e]);
  }
  counters.emplace_back("commits_checked", shared_->convergence.reports());
  counters.emplace_back("history_operations", shared_->history.size());
  counters.emplace_back("ops_committed", shared_->commits.committed_ops());
  counters.emplace_back("start_views_checked", shared_->commits.start_views_checked());
  return counters;
}

}  // namespace keel::sim
