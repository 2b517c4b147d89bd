#pragma once
// A simulated KV client, for any protocol that replicates the KV state machine
// (workloads/kv): straight-line code on a fiber that draws commands over a small key space,
// submits them one at a time through the protocol's own client, and records each in the
// per-key history the linearizability checker judges (sim/linearizability.h) and in the run's
// counters and trace (sim/protocol.h). It knows nothing of the protocol: KvSubmit is the door.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "io/env.h"
#include "io/fiber.h"
#include "sim/linearizability.h"
#include "sim/protocol.h"
#include "workloads/kv/kv.pb.h"

namespace keel::sim {

struct KvWorkloadOptions {
  uint32_t keys = 8;                   // "k0" .. "k{keys-1}": few, so that commands collide
  uint64_t value_size_bytes_max = 16;  // SET, MSET and APPEND arguments
  double write_fraction = 0.5;         // SET, DEL, INCRBY, APPEND, MSET; else GET, EXISTS, ...
  uint64_t think_mean_ns = 0;          // pause between commands, exponential
  uint64_t start_delay_ns_max = 10 * io::ns_per_ms;  // so that clients do not start in lockstep
  uint64_t idle_poll_ns = 20 * io::ns_per_ms;  // how often to ask again once the run wants none
};

// Sends one serialized kv::proto::Command and calls done exactly once: known true with the
// serialized kv::proto::Result, or known false if the outcome was never seen (it may or may not
// have taken effect). done may run after the workload is gone; it then does nothing.
using KvSubmit = std::function<void(std::string command,
                                    absl::AnyInvocable<void(bool known, std::string result)> done)>;

class KvWorkload {
 public:
  // history and next_operation_id are shared by every client of a run: each command gets the
  // next id (its id in the trace) and appends one KeyOperation per key it names, at invocation,
  // so that a command still running when the run ends counts as one whose outcome is unknown.
  KvWorkload(const KvWorkloadOptions& options, io::Env env, io::NodeId client, RunContext& context,
             std::vector<KeyOperation>& history, uint64_t& next_operation_id, KvSubmit submit);
  // Destroying the workload mid-command (a crashed client process) unwinds its fiber; the
  // command's operations stay in the history with unknown outcomes.
  ~KvWorkload();
  KvWorkload(const KvWorkload&) = delete;
  KvWorkload& operator=(const KvWorkload&) = delete;

  uint64_t commands_invoked() const { return commands_invoked_; }
  uint64_t commands_known() const { return commands_known_; }
  uint64_t commands_unknown() const { return commands_unknown_; }
  // Error results the checker has no model for (a full store, say): they changed nothing and are
  // kept in the history as no-ops.
  uint64_t errors_unmodeled() const { return errors_unmodeled_; }

 private:
  struct Outcome;

  void run();
  void run_command();
  kv::proto::Command draw_command();
  std::vector<std::string> draw_keys(uint32_t count_min, uint32_t count_max);
  std::string draw_value();
  size_t record_invocation(const kv::proto::Command& command, uint64_t id, uint64_t invoke_ns);
  void record_completion(const kv::proto::Command& command, uint64_t id, size_t first,
                         const Outcome& outcome);
  bool record_result(const kv::proto::Command& command, size_t first,
                     const kv::proto::Result& result);

  const KvWorkloadOptions options_;
  io::Env env_;
  const io::NodeId client_;
  RunContext& context_;
  std::vector<KeyOperation>& history_;
  uint64_t& next_operation_id_;
  KvSubmit submit_;
  uint64_t values_drawn_ = 0;
  uint64_t commands_invoked_ = 0;
  uint64_t commands_known_ = 0;
  uint64_t commands_unknown_ = 0;
  uint64_t errors_unmodeled_ = 0;
  io::TimerId start_timer_ = io::timer_id_none;
  io::Fiber fiber_;  // Last: destroyed first, while everything its stack refers to is alive.
};

}  // namespace keel::sim
