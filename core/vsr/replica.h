#pragma once
// A Viewstamped Replication replica ("Viewstamped Replication Revisited", Liskov & Cowling 2012,
// "VRR"), hardened for real disks as in "Protocol-Aware Recovery for Consensus-Based Storage"
// (Alagappan et al., FAST 2018). An event-driven state machine fed by messages, timer ticks and
// disk completions through io::Env; no threads, no wall time, no syscalls. docs/vsr.md
// describes the protocol, the disk layout and the recovery rules.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/vsr/config.h"
#include "core/vsr/state_machine.h"
#include "io/env.h"

namespace keel::vsr {

enum class Status : uint8_t {
  starting,     // reading the superblock, checkpoint and WAL
  normal,       // VRR 4.1
  view_change,  // VRR 4.2
  recovering,   // VRR 4.3: lost its superblock (a wiped or damaged disk); may not vote
};

// Things a replica did, for metrics and the simulator's coverage counters.
enum class ReplicaEvent : uint8_t {
  view_change_started,
  view_started,         // became normal in a new view (as primary or backup)
  restarted,            // started from a readable superblock
  superblock_repaired,  // some superblock copy was stale, torn or misdirected at start
  recovery_started,     // VRR 4.3: no superblock (wiped)
  recovery_completed,
  wal_slot_faulty,     // a WAL slot found damaged at start
  wal_torn_head,       // the newest prepare was torn at start
  header_repaired,     // a header learned from a peer
  prepare_repaired,    // a prepare body fetched from a peer and written
  truncated_by_nacks,  // a view change dropped uncommitted ops a quorum never held
  checkpoint_written,
  checkpoint_fallback,  // the newest checkpoint was damaged; an older one was used
  state_transfer_started,
  state_transfer_completed,
  scrub_repair,        // the scrubber found a damaged prepare and it was repaired
  clock_rejected,      // a replica's clock was outside the agreed interval
  client_evicted,      // a session left the client table to make room
  write_verify_retry,  // a WAL write read back wrong (misdirected or damaged) and was redone
  view_change_voted,   // a do_view_change decided on: made durable, then sent
  count_,
};
const char* replica_event_name(ReplicaEvent event);

// Hooks for checkers and metrics. Called synchronously; must not call back into the replica.
class ReplicaObserver {
 public:
  virtual ~ReplicaObserver() = default;
  // After op was applied: the header checksum of op and the replicated state's checksum (state
  // machine and client table) after it. Convergence checks compare these across replicas.
  virtual void committed(uint32_t replica, uint64_t op, uint64_t header_checksum,
                         uint64_t state_checksum) {}
  // False if committed() does nothing: the replica then skips the state checksum, which costs a
  // pass over the client table per op.
  virtual bool observes_commits() const { return true; }
  // On a primary: op (with this header checksum) is committed, because a quorum, the primary
  // counted, acknowledged it in view (VRR 4.1 step 5). Called once per op the count reaches, in
  // order. A view change must keep every such op (VRR 4.2): the simulator checks it does.
  virtual void commit_counted(uint32_t replica, uint64_t view, uint64_t op,
                              uint64_t header_checksum) {}
  virtual void event(uint32_t replica, ReplicaEvent event) {}
  // A line describing a protocol step, for debugging (the simulator prints them on request).
  virtual bool logging() const { return false; }
  virtual void log(uint32_t replica, std::string_view line) {}
};

class Replica {
 public:
  // The storage must be formatted with format() first (`keel format`).
  Replica(const Config& config, io::Env env, uint32_t replica, StateMachine& state_machine,
          ReplicaObserver* observer);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // The disk size a configuration needs.
  static uint64_t storage_size_bytes(const Config& config);
  // The bytes to write at offset 0 of a fresh data file: the superblock zone (view 0, an empty
  // checkpoint at op 0). The WAL and checkpoint areas start zeroed.
  static std::vector<uint8_t> format(const Config& config, uint64_t cluster_id, uint32_t replica);
  // Which logical block a sector belongs to, for the simulator's storage fault bound: each
  // superblock copy, each WAL slot (header and prepare) and each checkpoint area is one.
  static uint64_t fault_domain(const Config& config, uint64_t sector);

  Status status() const;
  uint64_t view() const;
  uint64_t log_view() const;
  uint64_t op() const;
  uint64_t commit_min() const;  // applied
  uint64_t commit_max() const;  // known committed
  bool primary() const;         // normal status, and primary of its view
  // The replicated state's checksum after commit_min.
  uint64_t state_checksum() const;
  // True when nothing is waiting: no request queued or in the pipeline, no repair, no disk
  // write. The simulator's convergence test asks this of the liveness core.
  bool idle() const;
  // The agreed-clock state, for tests and metrics.
  bool clock_synchronized() const;
  // On a primary in normal status: replicas, itself included, that have acknowledged its newest
  // prepare (a quorum of them commits it). 0 elsewhere. For metrics.
  uint32_t prepare_ok_votes() const;

  // An operator's request (SIGUSR2) to replace the current primary: starts a view change to the
  // next view as if the primary had gone quiet (VRR 4.2). False, doing nothing, unless the
  // replica is in normal status.
  bool request_view_change();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::vsr
