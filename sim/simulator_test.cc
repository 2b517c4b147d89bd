// The nemesis and the phases, checked from the trace of real runs (on the counter fixture):
// every fault stays inside its documented bound, and each partition cuts exactly its links.

#include "sim/simulator.h"

#include <gtest/gtest.h>

#include <bit>
#include <filesystem>
#include <optional>
#include <set>

#include "sim/vsr_protocol.h"
#include "tests/fixture/counter.h"

namespace keel::sim {
namespace {

uint32_t kind_of(FaultKind kind) { return static_cast<uint32_t>(kind); }

bool is_fault(const TraceRecord& record, FaultKind kind) {
  return record.kind == static_cast<uint32_t>(TraceKind::fault) && record.a == kind_of(kind);
}

// Only the nemesis actions the test names, and no per-message or per-I/O faults.
Profile only(Profile profile, const std::function<void(NemesisProfile&)>& enable) {
  profile.network =
      NetworkProfile{profile.network.latency_min_ns, profile.network.latency_tail_mean_ns};
  profile.disk = DiskProfile{profile.disk.latency_min_ns, profile.disk.latency_tail_mean_ns};
  const uint64_t duration = profile.nemesis.fault_duration_mean_ns;
  profile.nemesis = NemesisProfile{};
  profile.nemesis.interval_mean_ns = 20 * io::ns_per_ms;
  profile.nemesis.fault_duration_mean_ns = duration;
  enable(profile.nemesis);
  return profile;
}

struct TracedRun {
  RunSummary summary;
  TraceFile trace;
};

// The fixture counter by default; VSR where a test needs what only a real protocol reports.
TracedRun run(uint64_t seed, const std::function<void(Profile&)>& adjust, uint32_t replicas = 0,
              bool vsr = false) {
  fixture::CounterProtocol counter(fixture::CounterBug::none);
  VsrProtocol vsr_protocol;
  ProtocolUnderTest& protocol = vsr ? static_cast<ProtocolUnderTest&>(vsr_protocol)
                                    : static_cast<ProtocolUnderTest&>(counter);
  SimOptions options;
  options.seed = seed;
  options.requests = 300;
  options.replicas = replicas;
  options.adjust_profile = adjust;
  const std::string path =
      (std::filesystem::temp_directory_path() / ("keel-simulator-test-" + std::to_string(seed)))
          .string();
  Trace trace;
  std::string error;
  TracedRun result;
  {
    Simulator simulator(protocol, options, trace);
    EXPECT_TRUE(trace.write_to(path, proto::TraceHeader(), error)) << error;
    result.summary = simulator.run(nullptr);
    trace.finish(proto::TraceFooter());
  }
  EXPECT_TRUE(read_trace_file(path, result.trace, error)) << error;
  std::filesystem::remove(path);
  return result;
}

TEST(Nemesis, CrashesAndPausesNeverTakeDownMoreThanTheirBound) {
  uint64_t crashes = 0, pauses = 0;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    const TracedRun r = run(seed, [](Profile& p) {
      p = only(p, [](NemesisProfile& n) { n.crashes = n.pauses = true; });
    });
    EXPECT_EQ(r.summary.result, RunResult::pass) << "seed " << seed << ": " << r.summary.message;
    const uint32_t replicas = r.summary.profile.replicas;
    const uint32_t down_max = std::max<uint32_t>(1, (replicas - 1) / 2);
    std::set<uint32_t> down;
    for (const TraceRecord& record : r.trace.records) {
      if (is_fault(record, FaultKind::process_crash) ||
          is_fault(record, FaultKind::process_pause)) {
        down.insert(record.node);  // A paused replica may also crash: still one replica down.
        crashes += is_fault(record, FaultKind::process_crash);
        pauses += is_fault(record, FaultKind::process_pause);
      }
      if (is_fault(record, FaultKind::process_restart) ||
          is_fault(record, FaultKind::process_resume)) {
        down.erase(record.node);
      }
      EXPECT_LE(down.size(), down_max) << "seed " << seed << " at " << record.time_ns;
    }
  }
  EXPECT_GT(crashes, 30u);  // The bound was tested, not idle.
  EXPECT_GT(pauses, 30u);
}

// A crash aimed at a critical moment (VSR: a view change starting) is a crash like any other:
// recorded as one, and within the same bound of replicas down.
TEST(Nemesis, CrashesAtCriticalMomentsAreCrashesWithinTheBound) {
  uint64_t aimed = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    const TracedRun r = run(
        seed,
        [](Profile& p) {
          p = only(p, [](NemesisProfile& n) {
            n.crashes = true;
            n.moment_crash_probability = 1.0;
            n.moment_crash_delay_mean_ns = io::ns_per_ms;
          });
        },
        3, true);
    EXPECT_EQ(r.summary.result, RunResult::pass) << "seed " << seed << ": " << r.summary.message;
    const uint32_t down_max = std::max<uint32_t>(1, (r.summary.profile.replicas - 1) / 2);
    std::set<uint32_t> down;
    const TraceRecord* previous_fault = nullptr;
    for (const TraceRecord& record : r.trace.records) {
      if (is_fault(record, FaultKind::process_crash_at_moment)) {
        aimed++;
        ASSERT_NE(previous_fault, nullptr);
        EXPECT_TRUE(is_fault(*previous_fault, FaultKind::process_crash));
        EXPECT_EQ(previous_fault->node, record.node);
        EXPECT_EQ(previous_fault->time_ns, record.time_ns);
      }
      if (is_fault(record, FaultKind::process_crash)) down.insert(record.node);
      if (is_fault(record, FaultKind::process_restart)) down.erase(record.node);
      EXPECT_LE(down.size(), down_max) << "seed " << seed << " at " << record.time_ns;
      if (record.kind == static_cast<uint32_t>(TraceKind::fault)) previous_fault = &record;
    }
  }
  EXPECT_GT(aimed, 20u);
}

// What a moment crash may add: damage to the block of one of the crashed replica's latest
// writes, and a bridge: the crashed replica reaches everyone (across the partition in force, or
// between two random groups) until after it restarts, so that a promise it lost meets the side it
// made it against.
TEST(Nemesis, AMomentBridgeReachesEveryoneUntilAfterTheRestart) {
  uint64_t bridges = 0, damages = 0, sends_checked = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    const TracedRun r = run(
        seed,
        [](Profile& p) {
          p = only(p, [](NemesisProfile& n) {
            n.crashes = n.partitions = true;
            n.moment_crash_probability = 1.0;
            n.moment_crash_delay_mean_ns = io::ns_per_ms;
            n.moment_damage_probability = 0.5;
            n.moment_bridge_probability = 1.0;
          });
        },
        3, true);
    EXPECT_EQ(r.summary.result, RunResult::pass) << "seed " << seed << ": " << r.summary.message;
    std::optional<uint32_t> bridge;  // while a moment bridge holds
    bool restarted = false;
    const TraceRecord* previous_fault = nullptr;
    const auto& records = r.trace.records;
    for (size_t i = 0; i < records.size(); i++) {
      const TraceRecord& record = records[i];
      if (record.kind == static_cast<uint32_t>(TraceKind::phase)) bridge.reset();
      if (record.kind == static_cast<uint32_t>(TraceKind::fault)) {
        const auto kind = static_cast<FaultKind>(record.a);
        if (kind == FaultKind::partition_moment_bridge || kind == FaultKind::disk_moment_damage) {
          // Both come with the crash they follow: same replica, same instant.
          ASSERT_NE(previous_fault, nullptr);
          EXPECT_EQ(previous_fault->node, record.node);
          EXPECT_EQ(previous_fault->time_ns, record.time_ns);
        }
        if (kind == FaultKind::disk_moment_damage) damages++;
        if (kind == FaultKind::partition_moment_bridge) {
          bridges++;
          bridge = record.node;
          restarted = false;
        }
        if (kind == FaultKind::process_restart && bridge == record.node) restarted = true;
        if (kind == FaultKind::partition_heal && bridge) {
          EXPECT_TRUE(restarted) << "seed " << seed << ": healed before the bridge restarted";
          bridge.reset();
        }
        if (kind != FaultKind::partition_bridge) previous_fault = &record;
      }
      if (record.kind != static_cast<uint32_t>(TraceKind::send) || !bridge) continue;
      if (record.node != *bridge && record.a != *bridge) continue;
      const bool dropped = i + 1 < records.size() &&
                           records[i + 1].kind == static_cast<uint32_t>(TraceKind::drop) &&
                           records[i + 1].b == static_cast<uint64_t>(DropReason::partition);
      EXPECT_FALSE(dropped) << "seed " << seed << " " << format_record(record);
      sends_checked++;
    }
  }
  EXPECT_GT(bridges, 20u);
  EXPECT_GT(damages, 5u);
  EXPECT_GT(sends_checked, 100u);
}

// A rotation cuts off the primary that just started its view, from the other replicas only, and
// heals what was cut off before.
TEST(Nemesis, ARotationIsolatesTheNewPrimaryFromTheReplicasAlone) {
  uint64_t rotations = 0, sends_checked = 0;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    const TracedRun r = run(
        seed,
        [](Profile& p) {
          p = only(p, [](NemesisProfile& n) {
            n.partitions = true;
            n.rotate_probability = 1.0;
            n.rotate_delay_mean_ns = 5 * io::ns_per_ms;
          });
        },
        3, true);
    EXPECT_EQ(r.summary.result, RunResult::pass) << "seed " << seed << ": " << r.summary.message;
    const uint32_t replicas = r.summary.profile.replicas;
    std::optional<uint32_t> isolated;  // while a rotation holds
    const auto& records = r.trace.records;
    for (size_t i = 0; i < records.size(); i++) {
      const TraceRecord& record = records[i];
      if (record.kind == static_cast<uint32_t>(TraceKind::phase)) isolated.reset();
      if (record.kind == static_cast<uint32_t>(TraceKind::fault)) {
        const auto kind = static_cast<FaultKind>(record.a);
        if (kind == FaultKind::partition_rotate) {
          rotations++;
          EXPECT_EQ(record.b, uint64_t{1} << record.node);  // the side: the primary alone
          isolated = record.node;
        } else if (kind == FaultKind::partition_heal || kind == FaultKind::partition_isolate ||
                   kind == FaultKind::partition_symmetric ||
                   kind == FaultKind::partition_asymmetric ||
                   kind == FaultKind::partition_random_split ||
                   kind == FaultKind::partition_bridge) {
          isolated.reset();
        }
      }
      if (record.kind != static_cast<uint32_t>(TraceKind::send) || !isolated) continue;
      const uint32_t from = record.node;
      const auto to = static_cast<uint32_t>(record.a);
      const bool across = (from == *isolated) != (to == *isolated);
      const bool dropped = i + 1 < records.size() &&
                           records[i + 1].kind == static_cast<uint32_t>(TraceKind::drop) &&
                           records[i + 1].b == static_cast<uint64_t>(DropReason::partition);
      // Replica to replica across the cut: dropped. A client and the isolated primary: never.
      if (across && from < replicas && to < replicas) {
        EXPECT_TRUE(dropped) << "seed " << seed << " " << format_record(record);
        sends_checked++;
      } else if (across) {
        EXPECT_FALSE(dropped) << "seed " << seed << " " << format_record(record);
        sends_checked++;
      }
    }
  }
  EXPECT_GT(rotations, 10u);
  EXPECT_GT(sends_checked, 100u);
}

// A stranding cuts the primary off from the backups a commit can do without (a lag), then, at a
// commit it counts, isolates it and crashes a backup that kept up, with its newest blocks failed.
TEST(Nemesis, AStrandingLagsTheBackupsACommitCanSpareThenStrikesOneThatKeptUp) {
  uint64_t lags = 0, strikes = 0, blocks_failed = 0, sends_checked = 0;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    const TracedRun r = run(
        seed,
        [](Profile& p) {
          p = only(p, [](NemesisProfile& n) {
            n.crashes = true;
            n.strand_probability = 0.2;
            n.strand_lag_mean_ns = 100 * io::ns_per_ms;
          });
        },
        seed % 2 == 0 ? 3 : 5, true);
    EXPECT_EQ(r.summary.result, RunResult::pass) << "seed " << seed << ": " << r.summary.message;
    const uint32_t replicas = r.summary.profile.replicas;
    const uint32_t quorum = replicas / 2 + 1;
    std::optional<uint32_t> primary;  // while a lag holds
    uint64_t laggards = 0;
    const auto& records = r.trace.records;
    for (size_t i = 0; i < records.size(); i++) {
      const TraceRecord& record = records[i];
      if (record.kind == static_cast<uint32_t>(TraceKind::phase)) primary.reset();
      if (record.kind == static_cast<uint32_t>(TraceKind::fault)) {
        const auto kind = static_cast<FaultKind>(record.a);
        if (kind == FaultKind::strand_lag) {
          lags++;
          primary = record.node;
          laggards = record.b;
          EXPECT_EQ(std::popcount(laggards), static_cast<int>(replicas - quorum));
          EXPECT_EQ((laggards >> record.node) & 1, 0u);  // never the primary itself
          EXPECT_LT(laggards, uint64_t{1} << replicas);  // replicas only, never a client
        } else if (kind == FaultKind::strand_strike) {
          strikes++;
          blocks_failed += record.b;
          ASSERT_TRUE(primary.has_value()) << "seed " << seed << " " << format_record(record);
          EXPECT_NE(record.node, *primary);
          EXPECT_EQ((laggards >> record.node) & 1, 0u);  // a backup that kept up
          // It crashed at the strike.
          ASSERT_GT(i, 0u);
          EXPECT_EQ(records[i - 1].kind, static_cast<uint32_t>(TraceKind::fault));
          EXPECT_EQ(static_cast<FaultKind>(records[i - 1].a), FaultKind::process_crash);
          EXPECT_EQ(records[i - 1].node, record.node);
          primary.reset();
        } else if (kind == FaultKind::partition_heal) {
          primary.reset();
        }
      }
      if (record.kind != static_cast<uint32_t>(TraceKind::send) || !primary) continue;
      const uint32_t from = record.node;
      const auto to = static_cast<uint32_t>(record.a);
      const bool lagging = (from == *primary && to < replicas && ((laggards >> to) & 1)) ||
                           (to == *primary && ((laggards >> from) & 1));
      if (!lagging) continue;
      const bool dropped = i + 1 < records.size() &&
                           records[i + 1].kind == static_cast<uint32_t>(TraceKind::drop) &&
                           records[i + 1].b == static_cast<uint64_t>(DropReason::partition);
      EXPECT_TRUE(dropped) << "seed " << seed << " " << format_record(record);
      sends_checked++;
    }
  }
  EXPECT_GT(lags, 10u);
  EXPECT_GT(strikes, 5u) << lags << " lags";
  EXPECT_GT(blocks_failed, strikes);
  EXPECT_GT(sends_checked, 20u);
}

TEST(Nemesis, WipesStayWithinTheStorageFaultBound) {
  uint64_t wipes_seen = 0;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    const TracedRun r =
        run(seed, [](Profile& p) { p = only(p, [](NemesisProfile& n) { n.wipes = true; }); });
    EXPECT_EQ(r.summary.result, RunResult::pass) << "seed " << seed << ": " << r.summary.message;
    const uint32_t f = (r.summary.profile.replicas - 1) / 2;
    uint64_t wipes = 0;
    for (const TraceRecord& record : r.trace.records)
      wipes += is_fault(record, FaultKind::process_wipe);
    // A wiped disk is faulty everywhere for the rest of the run: at most f of them.
    EXPECT_LE(wipes, f) << "seed " << seed;
    wipes_seen += wipes;
  }
  EXPECT_GT(wipes_seen, 5u);
}

TEST(Nemesis, APartitionDropsExactlyTheMessagesOnTheLinksItCuts) {
  uint64_t checked = 0;
  std::set<uint32_t> shapes;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    const TracedRun r =
        run(seed, [](Profile& p) { p = only(p, [](NemesisProfile& n) { n.partitions = true; }); });
    EXPECT_EQ(r.summary.result, RunResult::pass) << "seed " << seed << ": " << r.summary.message;
    const uint32_t replicas = r.summary.profile.replicas;
    std::optional<TraceRecord> active;
    const auto& records = r.trace.records;
    for (size_t i = 0; i < records.size(); i++) {
      const TraceRecord& record = records[i];
      if (record.kind == static_cast<uint32_t>(TraceKind::phase)) active.reset();  // liveness heals
      if (record.kind == static_cast<uint32_t>(TraceKind::fault)) {
        const auto kind = static_cast<FaultKind>(record.a);
        if (kind == FaultKind::partition_heal) active.reset();
        if (kind == FaultKind::partition_symmetric || kind == FaultKind::partition_asymmetric ||
            kind == FaultKind::partition_isolate || kind == FaultKind::partition_random_split ||
            kind == FaultKind::partition_bridge) {
          EXPECT_FALSE(active.has_value()) << "two partitions at once, seed " << seed;
          active = record;
          shapes.insert(static_cast<uint32_t>(record.a));
        }
      }
      if (record.kind != static_cast<uint32_t>(TraceKind::send) || !active) continue;
      const auto kind = static_cast<FaultKind>(active->a);
      // A bridge's detail: the first group's mask, and the bridge above bit 32.
      const bool bridge_shape = kind == FaultKind::partition_bridge;
      const uint64_t side = bridge_shape ? active->b & 0xffffffff : active->b;
      const uint32_t bridge = bridge_shape ? static_cast<uint32_t>(active->b >> 32) : UINT32_MAX;
      const uint32_t from = record.node, to = static_cast<uint32_t>(record.a);
      const bool from_first = (side >> from) & 1, to_first = (side >> to) & 1;
      const bool replicas_only = kind == FaultKind::partition_symmetric ||
                                 kind == FaultKind::partition_asymmetric || bridge_shape;
      bool cut = from_first != to_first;
      if (replicas_only && (from >= replicas || to >= replicas)) cut = false;
      if (kind == FaultKind::partition_asymmetric && !from_first) cut = false;
      if (from == bridge || to == bridge) cut = false;
      const bool dropped = i + 1 < records.size() &&
                           records[i + 1].kind == static_cast<uint32_t>(TraceKind::drop) &&
                           records[i + 1].b == static_cast<uint64_t>(DropReason::partition);
      EXPECT_EQ(dropped, cut) << "seed " << seed << " " << format_record(record);
      checked++;
    }
  }
  EXPECT_GT(checked, 1000u);
  EXPECT_EQ(shapes.size(), 5u);  // Every shape was drawn.
}

TEST(Nemesis, AClientCutoffLastsItsWholeDurationWhateverPartitionsDo) {
  uint64_t checked = 0;
  for (uint64_t seed = 1; seed <= 30; seed++) {
    const TracedRun r = run(seed, [](Profile& p) {
      p = only(p, [](NemesisProfile& n) { n.client_cutoffs = n.partitions = true; });
    });
    EXPECT_EQ(r.summary.result, RunResult::pass) << "seed " << seed << ": " << r.summary.message;
    const uint32_t replicas = r.summary.profile.replicas;
    std::map<uint32_t, uint64_t> cut_until;  // client -> end of its cutoff
    bool liveness = false;
    const auto& records = r.trace.records;
    for (size_t i = 0; i < records.size(); i++) {
      const TraceRecord& record = records[i];
      if (record.kind == static_cast<uint32_t>(TraceKind::phase) && record.a == 2) liveness = true;
      if (is_fault(record, FaultKind::client_cutoff)) {
        cut_until[record.node] = std::max(cut_until[record.node], record.time_ns + record.b);
      }
      if (liveness || record.kind != static_cast<uint32_t>(TraceKind::send)) continue;
      const uint32_t from = record.node, to = static_cast<uint32_t>(record.a);
      const uint32_t client = from >= replicas ? from : to;
      if ((from >= replicas) == (to >= replicas)) continue;  // not client <-> replica
      if (!cut_until.contains(client) || record.time_ns >= cut_until[client]) continue;
      EXPECT_TRUE(i + 1 < records.size() &&
                  records[i + 1].kind == static_cast<uint32_t>(TraceKind::drop))
          << "seed " << seed << " " << format_record(record);
      checked++;
    }
  }
  EXPECT_GT(checked, 100u);
}

TEST(Phases, TheLivenessPhaseInjectsNoFaults) {
  for (uint64_t seed = 1; seed <= 20; seed++) {
    const TracedRun r = run(seed, nullptr);
    bool liveness = false;
    for (const TraceRecord& record : r.trace.records) {
      if (record.kind == static_cast<uint32_t>(TraceKind::phase) && record.a == 2) liveness = true;
      if (!liveness || record.kind != static_cast<uint32_t>(TraceKind::fault)) continue;
      // Only healing: restarts and resumes of the core, and the end of pauses already running.
      const auto kind = static_cast<FaultKind>(record.a);
      EXPECT_TRUE(kind == FaultKind::process_restart || kind == FaultKind::process_resume)
          << "seed " << seed << " " << format_record(record);
    }
  }
}

TEST(LivenessCore, IsEveryReplicaWhenFewerThanAQuorumAreHealthy) {
  // Default fault domains: one per sector. Each of three replicas has a fault in its own sector,
  // which the bound allows, so no replica is free of faults: an op committed on replicas 0 and 1
  // may be intact only on 1, and a core {0, 2} would hold no copy of it.
  StorageFaultBudget budget(3);
  budget.mark(0, 10, 1);
  budget.mark(1, 11, 1);
  budget.mark(2, 12, 1);
  io::Random random(1);
  const std::vector<io::NodeId> required = {0};
  const std::vector<io::NodeId> core = Simulator::choose_core(3, required, budget, random);
  EXPECT_EQ(core, (std::vector<io::NodeId>{0, 1, 2}));
}

TEST(LivenessCore, PrefersAQuorumOfHealthyReplicas) {
  StorageFaultBudget budget(5, [](uint64_t) { return uint64_t{0}; });
  budget.mark(0, 0, 1);
  budget.mark(3, 0, 1);
  for (uint64_t seed = 0; seed < 20; seed++) {
    io::Random random(seed);
    const std::vector<io::NodeId> required = {0};
    const std::vector<io::NodeId> core = Simulator::choose_core(5, required, budget, random);
    // The faulty required replica, plus a healthy quorum (1, 2, 4) beside it.
    EXPECT_EQ(core, (std::vector<io::NodeId>{0, 1, 2, 4})) << "seed " << seed;
  }
}

}  // namespace
}  // namespace keel::sim
