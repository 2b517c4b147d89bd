#pragma once
// What all simulated nodes share: the event loop, the trace, the fault counters and the fault
// budget that keeps injected faults inside what a correct protocol can survive.

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "io/random.h"
#include "sim/event_loop.h"
#include "sim/faults.h"
#include "sim/trace.h"

namespace keel::sim {

// Tags for the trace: what kind of thing an event does.
enum class EventKind : uint16_t {
  timer = 1,
  disk_read = 2,
  disk_write = 3,
  disk_sync = 4,
  deliver = 5,
  nemesis = 6,
  resume = 7,
  control = 8,
};

enum class DropReason : uint64_t {
  // 1 and 3 were loss and capacity: both are fault records now (net_loss, net_capacity_drop).
  partition = 2,
  node_down = 4,
  bad_frame = 5,
  no_receiver = 6,
};

// Storage faults are bounded per logical block ("fault domain"): the same domain is faulty
// (a sector of it damaged, stale after a misdirected write, unreadable, or gone with a wiped
// disk) on at most faults_max replicas at once, where faults_max = (replicas - 1) / 2. The
// protocol under test says which sectors form one logical block (by default each sector is its
// own); a rewrite that lands correctly heals a sector. Lost or torn unsynced writes are not
// storage faults: the durability contract allows them.
class StorageFaultBudget {
 public:
  using DomainOf = std::function<uint64_t(uint64_t sector)>;

  explicit StorageFaultBudget(uint32_t replica_count, DomainOf domain_of = nullptr)
      : faults_max_(replica_count == 0 ? 0 : (replica_count - 1) / 2),
        domain_of_(std::move(domain_of)) {}

  uint32_t faults_max() const { return faults_max_; }
  void set_domain_of(DomainOf domain_of) { domain_of_ = std::move(domain_of); }
  // Sectors that each hold a copy of one structure (VSR's superblock): faults never take all of
  // them on one replica, since that loses the replica's state like a wipe, which the nemesis
  // injects on its own within its own bound (seed 7584 lost all four superblock copies of a
  // replica to latent errors aimed at its latest writes, and the cluster, which needed that
  // replica's log, could not let it recover).
  void set_copy_sectors(std::vector<uint64_t> sectors) { copy_sectors_ = std::move(sectors); }
  bool allows(uint32_t node, uint64_t sector_first, uint64_t sector_count) const;
  // Both ranges faulty at once (a misdirected write's target and landing zone).
  bool allows_both(uint32_t node, uint64_t first_a, uint64_t count_a, uint64_t first_b,
                   uint64_t count_b) const;
  void mark(uint32_t node, uint64_t sector_first, uint64_t sector_count);
  void heal(uint32_t node, uint64_t sector_first, uint64_t sector_count);
  bool allows_wipe(uint32_t node) const;
  void mark_wiped(uint32_t node);
  bool faulty(uint32_t node, uint64_t sector) const;
  uint64_t domain_of(uint64_t sector) const { return domain(sector); }
  // True if any storage fault of node is outstanding (or its disk was wiped).
  bool node_faulty(uint32_t node) const;

 private:
  struct Range {
    uint64_t first;
    uint64_t count;
  };
  bool allows_ranges(uint32_t node, std::initializer_list<Range> ranges) const;
  uint64_t domain(uint64_t sector) const { return domain_of_ ? domain_of_(sector) : sector; }
  uint32_t domain_mask(uint64_t domain) const;
  bool within(uint32_t mask) const;

  uint32_t faults_max_;
  DomainOf domain_of_;
  std::vector<uint64_t> copy_sectors_;
  uint32_t wiped_mask_ = 0;
  std::array<uint64_t, 32> node_fault_count_{};  // faulty sectors per node
  // Only looked up and updated, never iterated in an order that matters.
  absl::flat_hash_map<uint64_t, uint32_t> sector_faulty_mask_;
  absl::flat_hash_map<uint64_t, std::array<uint32_t, 32>> domain_fault_count_;
};

class World {
 public:
  World(uint64_t seed, uint32_t replica_count, Trace& trace)
      : seed_(seed),
        loop_(seed),
        random_(io::Random::derive(seed, 0xfa17)),
        trace_(trace),
        storage_budget_(replica_count) {}

  uint64_t seed() const { return seed_; }
  EventLoop& loop() { return loop_; }
  uint64_t now_ns() const { return loop_.now_ns(); }
  // The stream for fault decisions. Nodes have their own streams for protocol randomness, so
  // turning a fault kind on never shifts a protocol's random choices.
  io::Random& random() { return random_; }
  Trace& trace() { return trace_; }
  StorageFaultBudget& storage_budget() { return storage_budget_; }
  const FaultCounts& faults() const { return faults_; }
  uint64_t fault_total() const;

  void record(TraceKind kind, uint32_t node, uint64_t a, uint64_t b) {
    trace_.record(TraceRecord{now_ns(), static_cast<uint32_t>(kind), node, a, b});
  }
  void fault(uint32_t node, FaultKind kind, uint64_t detail) {
    faults_[static_cast<size_t>(kind)]++;
    record(TraceKind::fault, node, static_cast<uint64_t>(kind), detail);
    if (log_faults_) log_fault(node, kind, detail);
  }
  // Prints the nemesis's faults (not the per-message and per-I/O ones) to stderr as they
  // happen, in the replicas' protocol log format (KEEL_VSR_LOG): debugging only.
  void set_log_faults(bool enabled) { log_faults_ = enabled; }

  // Runs the next event due at or before deadline_ns, tracing the scheduling decision.
  bool step(uint64_t deadline_ns) {
    return loop_.run_one(deadline_ns, [this](EventTag tag, uint64_t sequence) {
      events_by_kind_[tag.kind < events_by_kind_.size() ? tag.kind : 0]++;
      record(TraceKind::event, tag.node, sequence, tag.kind);
    });
  }
  // Events run by step(), by kind (an EventKind's value; 0 counts any other tag): where a run's
  // time goes, for the benchmarks.
  uint64_t events_run(EventKind kind) const { return events_by_kind_[static_cast<size_t>(kind)]; }

 private:
  uint64_t seed_;
  EventLoop loop_;
  io::Random random_;
  Trace& trace_;
  StorageFaultBudget storage_budget_;
  FaultCounts faults_{};
  std::array<uint64_t, static_cast<size_t>(EventKind::control) + 1> events_by_kind_{};
  bool log_faults_ = false;

  void log_fault(uint32_t node, FaultKind kind, uint64_t detail) const;
};

}  // namespace keel::sim
