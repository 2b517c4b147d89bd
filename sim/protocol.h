#pragma once
// What the simulator asks of a protocol under test, and what it offers back. A protocol adapter
// starts replicas and clients against io::Env, keeps its own history of client operations, and
// judges it: the simulator owns time, faults, phases and the verdict's exit code.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/env.h"
#include "sim/profile.h"

namespace keel::sim {

class SimDisk;

// Whatever a started replica or client is; destroying it is a crash of its volatile state.
class Process {
 public:
  virtual ~Process() = default;
};

class RunContext {
 public:
  virtual ~RunContext() = default;
  // Simulated time, for histories. Protocol code itself reads only its node's io::Clock.
  virtual uint64_t now_ns() const = 0;
  // Client workloads ask before each request; false once the run wants no more.
  virtual bool more_requests(io::NodeId client) = 0;
  // Every client operation is recorded with its invocation and completion, for the trace and
  // the run's counters. A completion with ok false means the client gave up (timed out): the
  // operation may or may not have taken effect.
  virtual void client_invoked(io::NodeId client, uint64_t operation, uint64_t argument) = 0;
  virtual void client_completed(io::NodeId client, uint64_t operation, bool ok,
                                uint64_t result) = 0;
  // A checker found a safety violation: the run stops with the correctness exit code.
  virtual void violation(std::string message) = 0;
  // A replica is at a moment where a crash soon after is worth trying: it is about to make a
  // promise (a view-change vote) that must survive the crash. The nemesis may aim a crash there
  // (NemesisProfile::moment_crash_probability); random crashes alone rarely land in the window.
  virtual void critical_moment(io::NodeId replica) = 0;
  // A replica became the primary of a new view. The nemesis may cut it off soon after and let
  // the replicas it cut off before back in (NemesisProfile::rotate_probability): a log left
  // over from an older view then meets the view change that follows.
  virtual void primary_started(io::NodeId replica) = 0;
  // A primary counted an op committed (a quorum holds it durably). The nemesis may strike at
  // that moment (NemesisProfile::strand_probability).
  virtual void commit_counted(io::NodeId replica) = 0;
};

class ProtocolUnderTest {
 public:
  virtual ~ProtocolUnderTest() = default;
  virtual std::string_view name() const = 0;
  virtual uint32_t replicas_min() const = 0;
  virtual uint32_t replicas_max() const = 0;
  virtual uint64_t disk_size_bytes() const = 0;

  // Called once, before anything starts (before disk_size_bytes).
  virtual void setup(const Profile& profile, RunContext& context) = 0;
  // Writes a replica's initial disk contents (the simulated `keel format`).
  virtual void format(io::NodeId replica, uint64_t cluster_id, SimDisk& disk) = 0;
  // Called at boot and at every restart; the returned process lives until the next crash.
  virtual std::unique_ptr<Process> start_replica(io::NodeId replica, io::Env env) = 0;
  virtual std::unique_ptr<Process> start_client(io::NodeId client, io::Env env) = 0;

  // Which sectors form one logical block, for the storage-fault bound (sim/world.h): the same
  // domain is faulty on at most f replicas at once. By default every sector is its own domain.
  virtual uint64_t fault_domain(uint64_t sector) const { return sector; }
  // Sectors that each hold a copy of one structure: storage faults never take all of them on one
  // replica (StorageFaultBudget::set_copy_sectors). None by default. Asked after setup().
  virtual std::vector<uint64_t> copy_sectors() const { return {}; }
  // A protocol without a way to detect a stale block (redundant headers, say) may opt out of
  // misdirected writes; the simulator then never injects them for it.
  virtual bool survives_misdirected_writes() const { return true; }

  // The replica leading right now (the primary of the newest view that is in normal status), if
  // the protocol has one and one is: the nemesis aims some partitions at it, as Jepsen's
  // leader-isolating nemeses do. Only a hint; never a correctness input.
  virtual std::optional<io::NodeId> leader() const { return std::nullopt; }
  // Replicas the liveness core must include.
  virtual std::vector<io::NodeId> core_required() const { return {}; }
  // True once the running replicas of core agree on the same committed state.
  virtual bool converged(std::span<const io::NodeId> core) = 0;
  // Safety checks over the whole run, once it ended; a description of the violation, if any.
  virtual std::optional<std::string> check_final() = 0;
  // Protocol counters for the run summary (view changes, repairs, ...).
  virtual std::vector<std::pair<std::string, uint64_t>> counters() const { return {}; }
};

}  // namespace keel::sim
