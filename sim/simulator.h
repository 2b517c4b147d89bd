#pragma once
// Drives one whole cluster under one seed: derives the swarm profile, starts replicas and
// clients, injects faults within their bounds during the safety phase, heals a quorum core for
// the liveness phase, and returns the verdict.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sim/faults.h"
#include "sim/network.h"
#include "sim/node.h"
#include "sim/profile.h"
#include "sim/protocol.h"
#include "sim/trace.h"
#include "sim/world.h"

namespace keel::sim {

// Exit codes of `keel sim`, one per verdict.
enum class RunResult : int {
  pass = 0,
  correctness_violation = 1,
  liveness_violation = 3,
  crash = 4,
  trace_divergence = 5,  // replay or determinism check: the run did not repeat itself
};

std::string_view run_result_name(RunResult result);

struct SimOptions {
  uint64_t seed = 0;
  uint32_t replicas = 0;  // 0: drawn from the seed
  uint64_t requests = 1000;
  bool swarm = true;  // false: a calm run without faults
  uint64_t cluster_id = 0x6b65656c;
  uint64_t safety_time_max_ns = 120 * io::ns_per_s;
  uint64_t liveness_bound_ns = 60 * io::ns_per_s;
  uint64_t nondeterminism_salt = 0;  // non-zero only to test the determinism check
  // For tests: changes the profile derived from the seed (say, to turn on one fault kind only).
  std::function<void(Profile&)> adjust_profile;
};

struct RunSummary {
  RunResult result = RunResult::pass;
  std::string message;
  Profile profile;
  uint64_t events = 0;
  uint64_t simulated_ns = 0;
  uint64_t requests_completed = 0;
  uint64_t requests_timed_out = 0;
  bool safety_phase_timed_out = false;  // it ended at safety_time_max_ns, not with the requests
  uint64_t frames_rejected = 0;
  FaultCounts faults{};
  std::vector<std::pair<std::string, uint64_t>> checks;
  std::vector<std::pair<std::string, uint64_t>> protocol_counters;
  uint64_t trace_records = 0;
  uint64_t trace_hash = 0;
};

class Simulator final : public RunContext {
 public:
  Simulator(ProtocolUnderTest& protocol, const SimOptions& options, Trace& trace);
  ~Simulator() override;

  const Profile& profile() const { return profile_; }

  // The liveness core: the required replicas, then storage-healthy ones at random until it holds
  // a quorum of healthy replicas. Where fewer than a quorum are healthy it is every replica: a
  // committed op is durable on only a quorum, a storage fault may have hit it on the one member
  // of some other quorum that holds it, and its intact copies may all lie outside that quorum.
  // (A logical block is faulty on at most f replicas, so the whole cluster always holds one.)
  static std::vector<io::NodeId> choose_core(uint32_t replicas,
                                             std::span<const io::NodeId> required,
                                             const StorageFaultBudget& budget, io::Random& random);
  // Runs to the verdict. If an assertion fails inside the run, on_crash is called with the
  // summary and the process exits with the code it returns (RunResult::crash without one).
  RunSummary run(std::function<int(const RunSummary&)> on_crash);

  // RunContext
  uint64_t now_ns() const override { return world_->now_ns(); }
  bool more_requests(io::NodeId client) override;
  void client_invoked(io::NodeId client, uint64_t operation, uint64_t argument) override;
  void client_completed(io::NodeId client, uint64_t operation, bool ok, uint64_t result) override;
  void violation(std::string message) override;
  void critical_moment(io::NodeId replica) override;
  void primary_started(io::NodeId replica) override;
  void commit_counted(io::NodeId replica) override;

 private:
  enum class Phase : uint64_t { setup = 0, safety = 1, liveness = 2, done = 3 };

  void boot();
  bool run_until(uint64_t deadline_ns, const std::function<bool()>& done);
  void enter_liveness();
  bool liveness_reached();
  RunSummary summarize();
  void stop(RunResult result, std::string message);
  static void on_assertion(const char* message);

  // The nemesis: one fault action every so often, within the fault bounds.
  void schedule_nemesis();
  void nemesis_act();
  uint32_t replicas_down() const;
  // At most f replicas down or paused at once, and at least one may go down so that a single
  // replica still sees crashes: a quorum is lost only until the restart that always follows.
  uint32_t replicas_down_max() const;
  // Returns the downtime drawn: the replica restarts that long after.
  uint64_t crash_replica(io::NodeId replica, bool wipe);
  // Aimed faults: with the given probability, fault runs a random delay (mean delay_mean_ns)
  // after the moment, in the safety phase only.
  void maybe_aim(io::NodeId replica, double probability, uint64_t delay_mean_ns,
                 io::Callback fault);
  void aim_at_moment_crash(io::NodeId replica, uint64_t downtime_ns);
  void rotate_isolation(io::NodeId primary);
  void strand_lag(io::NodeId primary);
  void strand_strike();
  // A stranding in its first step: the primary is cut off from the laggards until until_ns,
  // and the strike comes at the commits_left-th commit it counts meanwhile (0: it is on its
  // way).
  struct Strand {
    io::NodeId primary = io::node_id_none;
    uint64_t laggards = 0;
    uint64_t until_ns = 0;
    uint32_t commits_left = 0;
  };
  Strand strand_;
  void cut_off_client(io::NodeId client, uint64_t until_ns);
  void restart_replica(io::NodeId replica);
  void partition();
  // Cuts the replicas but bridge into two random groups; the caller says when it heals.
  void partition_bridge(io::NodeId bridge);
  void heal_partition_later(uint64_t duration_ns);

  ProtocolUnderTest& protocol_;
  const SimOptions options_;
  Trace& trace_;
  Profile profile_;
  std::unique_ptr<World> world_;
  std::unique_ptr<SimNetwork> network_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::vector<std::unique_ptr<Process>> processes_;
  std::vector<bool> restart_pending_;
  std::vector<uint64_t> client_cut_off_until_ns_;
  std::vector<io::NodeId> core_;
  Phase phase_ = Phase::setup;
  bool partition_active_ = false;
  uint64_t partitions_made_ = 0;
  uint64_t requests_invoked_ = 0;
  uint64_t requests_completed_ = 0;
  uint64_t requests_timed_out_ = 0;
  std::vector<uint64_t> client_completed_in_liveness_;
  uint64_t convergence_checks_ = 0;
  bool safety_phase_timed_out_ = false;
  std::optional<std::pair<RunResult, std::string>> stopped_;
  std::function<int(const RunSummary&)> on_crash_;
};

}  // namespace keel::sim
