#pragma once
// The swarm profile: which faults a run turns on and how hard, drawn from the seed, so that a
// sweep over seeds explores many mixes of faults rather than one mix everywhere ("swarm
// testing", Groce et al., ISSTA 2012). Printed first in every run.

#include <cstdint>
#include <string>

#include "io/random.h"

namespace keel::sim {

struct NetworkProfile {
  uint64_t latency_min_ns = 500'000;
  uint64_t latency_tail_mean_ns = 1'000'000;  // exponential tail on top of the minimum
  double loss_probability = 0;
  double duplicate_probability = 0;
  double reorder_probability = 0;
  uint64_t reorder_delay_mean_ns = 20'000'000;
  double corrupt_probability = 0;
  uint32_t link_capacity_messages = 1024;  // in flight per directed link; beyond, dropped
  // A copy of the message delivered again much later (held in a queue, resent by a middlebox):
  // it arrives after the views, repairs and state it was about have moved on.
  double replay_probability = 0;
  uint64_t replay_delay_mean_ns = 2'000'000'000;
};

struct DiskProfile {
  uint64_t latency_min_ns = 20'000;
  uint64_t latency_tail_mean_ns = 100'000;
  double slow_probability = 0;  // a spike of 100 tail means
  double read_corrupt_probability = 0;
  double write_corrupt_probability = 0;
  double misdirect_probability = 0;
  double latent_error_probability = 0;
  // Of the read-corrupt and latent-error faults, the fraction that hit a whole logical block
  // (ProtocolUnderTest::fault_domain) of one of the disk's 8 latest writes instead of a sector
  // of the read.
  double recent_block_fraction = 0;
};

struct ClockProfile {
  uint64_t offset_ns_max = 0;  // per-node realtime offset, uniform in +-max
  uint64_t drift_ppm_max = 0;  // per-node rate error, uniform in +-max
  uint64_t jump_ns_max = 0;    // size of a nemesis clock jump, +-max
};

struct NemesisProfile {
  uint64_t interval_mean_ns = 0;  // 0: no nemesis actions at all
  bool partitions = false;
  bool clogs = false;
  bool client_cutoffs = false;
  bool crashes = false;
  bool pauses = false;
  bool wipes = false;
  bool clock_jumps = false;
  uint64_t fault_duration_mean_ns = 1'000'000'000;  // partitions, clogs, downtime
  // Of a replica's critical moments (RunContext::critical_moment), the fraction followed by a
  // crash after an exponential delay of this mean: a crash aimed where promises are made.
  double moment_crash_probability = 0;
  uint64_t moment_crash_delay_mean_ns = 1'000'000;
  // Of those crashes, the fraction that also damage the logical block of one of the replica's
  // latest writes (a crash that takes the newest promise with it, within the storage budget),
  // and the fraction that also leave the replica restarting as the bridge of a partition (the
  // side that moved on and the side it left both reach it, and nothing else reaches across).
  double moment_damage_probability = 0;
  double moment_bridge_probability = 0;
  // Of the views a primary starts, the fraction in which it is isolated after an exponential
  // delay of this mean, while the partition in force (usually the isolation of the primary
  // before) heals: Jepsen's rolling isolation of the leader. The old primary comes back with
  // the log of an older view, often longer than the new view's, into the next view change.
  double rotate_probability = 0;
  uint64_t rotate_delay_mean_ns = 5'000'000;
  // Of the commits a primary counts, the fraction that start the stranding of a commit: the
  // primary loses the backups a commit can do without, for an exponential time of this mean;
  // at one of the next few commits it counts meanwhile it is isolated, and a backup that kept up
  // crashes with recent damage, so that the ops committed last have no intact copy that the view
  // change can reach.
  double strand_probability = 0;
  uint64_t strand_lag_mean_ns = 10'000'000;
};

struct Profile {
  uint32_t replicas = 3;
  uint32_t clients = 2;
  double write_fraction = 1.0;        // the workload mix, for protocols that have reads
  uint64_t client_think_mean_ns = 0;  // pause between a client's requests, exponential
  NetworkProfile network;
  DiskProfile disk;
  ClockProfile clock;
  NemesisProfile nemesis;

  std::string describe() const;
};

struct ProfileLimits {
  uint32_t replicas_min = 1;
  uint32_t replicas_max = 6;
  uint32_t replicas_forced = 0;  // 0: drawn from the seed
  bool swarm = true;             // false: no faults at all (a calm run)
};

Profile derive_profile(uint64_t seed, const ProfileLimits& limits);

}  // namespace keel::sim
