// The simulated KV workload against in-test fake services: a correct store gives a
// linearizable history (with and without lost replies), a store that acknowledges writes it
// drops is caught, and a client destroyed mid-command leaves nothing dangling.

#include "sim/kv_workload.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "io/random.h"
#include "sim/linearizability.h"
#include "sim/network.h"
#include "sim/node.h"
#include "sim/world.h"
#include "workloads/kv/state_machine.h"

namespace keel::sim {
namespace {

constexpr uint64_t ms = io::ns_per_ms;

// Hands out requests up to a budget and counts what the workloads report.
class FakeContext final : public RunContext {
 public:
  explicit FakeContext(World& world) : world_(world) {}
  uint64_t now_ns() const override { return world_.now_ns(); }
  bool more_requests(io::NodeId client) override { return invoked < budget; }
  void client_invoked(io::NodeId client, uint64_t operation, uint64_t argument) override {
    invoked++;
    EXPECT_GE(argument, 1u);  // the command's kind
  }
  void client_completed(io::NodeId client, uint64_t operation, bool ok, uint64_t result) override {
    completed++;
    if (!ok) unknown++;
  }
  void violation(std::string message) override { violations.push_back(std::move(message)); }
  void critical_moment(io::NodeId replica) override {}
  void primary_started(io::NodeId replica) override {}
  void commit_counted(io::NodeId replica) override {}

  uint64_t budget = 0;
  uint64_t invoked = 0;
  uint64_t completed = 0;
  uint64_t unknown = 0;
  std::vector<std::string> violations;

 private:
  World& world_;
};

// A single KV store that applies each command at a random instant inside its call and answers
// a little later, as a linearizable service does; or, as told, misbehaves.
struct FakeService {
  enum class Fault {
    none,
    lose_replies,   // some outcomes never come back (applied or not)
    drop_writes,    // SET and MSET are acknowledged but never applied
    wrong_results,  // every command is answered with an integer
  };

  FakeService(uint64_t seed, Fault fault, kv::Limits limits = {})
      : random(io::Random::derive(seed, 0xfa4e)), fault(fault), machine(limits) {}

  KvSubmit submit_for(SimNode& node) {
    return [this, &node](std::string command, absl::AnyInvocable<void(bool, std::string)> done) {
      in_flight++;
      node.start(random.range(0, 3 * ms), [this, &node, command = std::move(command),
                                           done = std::move(done)]() mutable {
        kv::proto::Command parsed;
        EXPECT_TRUE(parsed.ParseFromString(command));
        const bool lost = fault == Fault::lose_replies && random.chance(0.3);
        const bool skipped =
            (lost && random.chance(0.3)) ||
            (fault == Fault::drop_writes && (parsed.has_set() || parsed.has_mset()));
        kv::proto::Result result;
        if (fault == Fault::wrong_results) {
          result.set_integer(1);
        } else if (skipped) {
          result.set_ok(true);
        } else {
          result = machine.apply(parsed);
        }
        node.start(random.range(0, 3 * ms), [this, lost, done = std::move(done),
                                             bytes = result.SerializeAsString()]() mutable {
          in_flight--;
          done(!lost, lost ? std::string() : std::move(bytes));
        });
      });
    };
  }

  io::Random random;
  Fault fault;
  kv::StateMachine machine;
  uint64_t in_flight = 0;
};

struct Rig {
  Rig(uint64_t seed, uint32_t clients, FakeService::Fault fault, KvWorkloadOptions options = {},
      kv::Limits limits = {})
      : world(seed, 1, trace),
        network(world, clients, profile),
        context(world),
        service(seed, fault, limits) {
    std::vector<SimNode*> attached;
    for (io::NodeId id = 0; id < clients; id++) {
      nodes.push_back(
          std::make_unique<SimNode>(world, network, id, 1, ClockSettings{}, 0, nullptr));
      attached.push_back(nodes.back().get());
    }
    network.attach(attached);
    for (io::NodeId id = 0; id < clients; id++) {
      workloads.push_back(std::make_unique<KvWorkload>(options, nodes[id]->env(), id, context,
                                                       history, next_operation_id,
                                                       service.submit_for(*nodes[id])));
    }
  }

  // Hands out requests more requests and runs until every one has completed.
  void run_requests(uint64_t requests) {
    context.budget += requests;
    const uint64_t deadline_ns = world.now_ns() + 1000 * io::ns_per_s;
    while (context.completed < context.budget || service.in_flight > 0) {
      ASSERT_TRUE(world.step(deadline_ns)) << "the workload stalled";
    }
  }
  void run_for(uint64_t duration_ns) {
    const uint64_t deadline_ns = world.now_ns() + duration_ns;
    while (world.step(deadline_ns)) {
    }
  }

  uint64_t count(KeyOperation::Kind kind) const {
    uint64_t total = 0;
    for (const KeyOperation& operation : history) total += operation.kind == kind;
    return total;
  }

  Trace trace;
  NetworkProfile profile;
  World world;
  SimNetwork network;
  FakeContext context;
  FakeService service;
  std::vector<std::unique_ptr<SimNode>> nodes;
  std::vector<KeyOperation> history;
  uint64_t next_operation_id = 0;
  std::vector<std::unique_ptr<KvWorkload>> workloads;
};

KvWorkloadOptions small_key_space() {
  KvWorkloadOptions options;
  options.keys = 4;
  options.write_fraction = 0.5;
  options.think_mean_ns = 1 * ms;
  return options;
}

TEST(KvWorkload, AHistoryOfALinearizableStorePasses) {
  Rig rig(1, 3, FakeService::Fault::none, small_key_space());
  rig.run_requests(500);
  EXPECT_EQ(rig.context.invoked, 500u);
  EXPECT_EQ(rig.context.unknown, 0u);
  EXPECT_TRUE(rig.context.violations.empty());
  EXPECT_EQ(rig.next_operation_id, 500u);
  EXPECT_GT(rig.history.size(), 500u);  // multi-key commands add one operation per key
  for (const KeyOperation& operation : rig.history) EXPECT_TRUE(operation.outcome_known());
  for (KeyOperation::Kind kind :
       {KeyOperation::Kind::set, KeyOperation::Kind::get, KeyOperation::Kind::del,
        KeyOperation::Kind::exists, KeyOperation::Kind::incr_by, KeyOperation::Kind::append,
        KeyOperation::Kind::strlen}) {
    EXPECT_GT(rig.count(kind), 0u) << static_cast<int>(kind);
  }
  uint64_t incr_errors = 0, incr_values = 0, gets_found = 0;
  for (const KeyOperation& operation : rig.history) {
    if (operation.kind == KeyOperation::Kind::incr_by)
      (operation.error ? incr_errors : incr_values)++;
    if (operation.kind == KeyOperation::Kind::get) gets_found += operation.found;
  }
  EXPECT_GT(incr_errors, 0u);  // errors are outcomes too
  EXPECT_GT(incr_values, 0u);
  EXPECT_GT(gets_found, 0u);
  const LinearizabilityResult result = check_linearizability(rig.history);
  EXPECT_EQ(result.verdict, LinearizabilityResult::Verdict::linearizable) << result.report;
}

TEST(KvWorkload, LostRepliesLeaveOutcomesUnknownAndTheHistoryStillPasses) {
  Rig rig(2, 3, FakeService::Fault::lose_replies, small_key_space());
  rig.run_requests(400);
  EXPECT_GT(rig.context.unknown, 0u);
  uint64_t unknown_commands = 0;
  for (const auto& workload : rig.workloads) unknown_commands += workload->commands_unknown();
  EXPECT_EQ(unknown_commands, rig.context.unknown);
  uint64_t unknown_operations = 0;
  for (const KeyOperation& operation : rig.history) {
    unknown_operations += !operation.outcome_known();
  }
  EXPECT_GE(unknown_operations, rig.context.unknown);
  const LinearizabilityResult result = check_linearizability(rig.history);
  EXPECT_EQ(result.verdict, LinearizabilityResult::Verdict::linearizable) << result.report;
}

TEST(KvWorkload, AcknowledgedWritesThatWereDroppedAreCaught) {
  Rig rig(3, 3, FakeService::Fault::drop_writes, small_key_space());
  rig.run_requests(300);
  const LinearizabilityResult result = check_linearizability(rig.history);
  EXPECT_EQ(result.verdict, LinearizabilityResult::Verdict::not_linearizable);
  EXPECT_FALSE(result.window.empty());
}

TEST(KvWorkload, AResultThatCannotAnswerTheCommandIsAViolation) {
  Rig rig(4, 1, FakeService::Fault::wrong_results, small_key_space());
  rig.run_requests(50);
  EXPECT_FALSE(rig.context.violations.empty());
}

TEST(KvWorkload, ErrorsTheCheckerDoesNotModelAreNoOps) {
  kv::Limits limits;
  limits.value_size_bytes_max = 6;  // most SETs, MSETs and some APPENDs fail
  Rig rig(5, 2, FakeService::Fault::none, small_key_space(), limits);
  rig.run_requests(300);
  uint64_t unmodeled = 0;
  for (const auto& workload : rig.workloads) unmodeled += workload->errors_unmodeled();
  EXPECT_GT(unmodeled, 0u);
  EXPECT_TRUE(rig.context.violations.empty());
  const LinearizabilityResult result = check_linearizability(rig.history);
  EXPECT_EQ(result.verdict, LinearizabilityResult::Verdict::linearizable) << result.report;
}

TEST(KvWorkload, IdlesWhileTheRunWantsNoRequestsThenGoesOn) {
  Rig rig(6, 2, FakeService::Fault::none, small_key_space());
  rig.run_requests(20);
  rig.run_for(500 * ms);
  EXPECT_EQ(rig.context.invoked, 20u);
  rig.run_requests(10);
  EXPECT_EQ(rig.context.invoked, 30u);
  EXPECT_EQ(rig.context.completed, 30u);
}

TEST(KvWorkload, ClientsStartAfterDifferentDelays) {
  Rig rig(7, 4, FakeService::Fault::none, small_key_space());
  rig.run_requests(4);
  std::vector<uint64_t> first_invoke_ns(4, UINT64_MAX);
  for (const KeyOperation& operation : rig.history) {
    first_invoke_ns[operation.client] =
        std::min(first_invoke_ns[operation.client], operation.invoke_ns);
  }
  uint64_t distinct = 0;
  for (size_t i = 0; i < first_invoke_ns.size(); i++) {
    bool seen = false;
    for (size_t j = 0; j < i; j++) seen |= first_invoke_ns[j] == first_invoke_ns[i];
    distinct += !seen;
  }
  EXPECT_GT(distinct, 1u);
}

TEST(KvWorkload, DestroyedMidCommandItLeavesTheCommandUnknownAndNothingDangling) {
  Rig rig(8, 1, FakeService::Fault::none, small_key_space());
  rig.context.budget = 1000;
  while (rig.service.in_flight == 0 || rig.context.invoked < 5) {
    ASSERT_TRUE(rig.world.step(UINT64_MAX));
  }
  const uint64_t invoked = rig.context.invoked;
  rig.workloads.clear();  // a crashed client process
  while (rig.service.in_flight > 0) {
    ASSERT_TRUE(rig.world.step(UINT64_MAX));  // done runs for a workload that is gone
  }
  rig.run_for(1000 * ms);
  EXPECT_EQ(rig.context.invoked, invoked);
  EXPECT_EQ(rig.context.completed, invoked - 1);
  EXPECT_FALSE(rig.history.back().outcome_known());
  const LinearizabilityResult result = check_linearizability(rig.history);
  EXPECT_EQ(result.verdict, LinearizabilityResult::Verdict::linearizable) << result.report;
}

TEST(KvWorkload, TheSameSeedGivesTheSameHistory) {
  std::vector<std::string> runs[2];
  for (std::vector<std::string>& run : runs) {
    Rig rig(9, 3, FakeService::Fault::lose_replies, small_key_space());
    rig.run_requests(200);
    for (const KeyOperation& operation : rig.history) run.push_back(format_operation(operation));
  }
  EXPECT_EQ(runs[0], runs[1]);
}

}  // namespace
}  // namespace keel::sim
