#include "sim/profile.h"

#include <fmt/format.h>

namespace keel::sim {
namespace {

// A fault kind is on in about half the runs; when on, its rate is drawn from [0, max].
double maybe_rate(io::Random& random, double max) {
  return random.chance(0.5) ? random.unit() * max : 0.0;
}

}  // namespace

Profile derive_profile(uint64_t seed, const ProfileLimits& limits) {
  io::Random random = io::Random::derive(seed, 0x9f0f11e);
  Profile profile;
  profile.replicas =
      limits.replicas_forced != 0
          ? limits.replicas_forced
          : static_cast<uint32_t>(random.range(limits.replicas_min, limits.replicas_max));
  profile.clients = static_cast<uint32_t>(random.range(1, 4));
  profile.write_fraction = 0.25 + 0.75 * random.unit();
  profile.client_think_mean_ns = random.range(0, 20) * 1'000'000;

  NetworkProfile& network = profile.network;
  network.latency_min_ns = random.range(100'000, 2'000'000);
  network.latency_tail_mean_ns = random.range(100'000, 5'000'000);
  DiskProfile& disk = profile.disk;
  disk.latency_min_ns = random.range(10'000, 200'000);
  disk.latency_tail_mean_ns = random.range(10'000, 1'000'000);
  if (!limits.swarm) return profile;

  network.loss_probability = maybe_rate(random, 0.10);
  network.duplicate_probability = maybe_rate(random, 0.05);
  network.reorder_probability = maybe_rate(random, 0.10);
  network.corrupt_probability = maybe_rate(random, 0.02);
  network.link_capacity_messages =
      random.chance(0.5) ? static_cast<uint32_t>(random.range(4, 64)) : 1024;

  disk.slow_probability = maybe_rate(random, 0.02);
  disk.read_corrupt_probability = maybe_rate(random, 0.01);
  disk.write_corrupt_probability = maybe_rate(random, 0.01);
  disk.misdirect_probability = maybe_rate(random, 0.01);
  disk.latent_error_probability = maybe_rate(random, 0.01);

  ClockProfile& clock = profile.clock;
  clock.offset_ns_max = random.chance(0.5) ? random.range(1, 200) * 1'000'000 : 0;
  clock.drift_ppm_max = random.chance(0.5) ? random.range(1, 200) : 0;
  clock.jump_ns_max = random.range(1, 500) * 1'000'000;

  NemesisProfile& nemesis = profile.nemesis;
  nemesis.interval_mean_ns = random.range(10, 300) * 1'000'000;
  nemesis.partitions = random.chance(0.5);
  nemesis.clogs = random.chance(0.5);
  nemesis.client_cutoffs = random.chance(0.3);
  nemesis.crashes = random.chance(0.6);
  nemesis.pauses = random.chance(0.4);
  nemesis.wipes = random.chance(0.3);
  nemesis.clock_jumps = clock.offset_ns_max != 0 && random.chance(0.5);
  nemesis.fault_duration_mean_ns = random.range(50, 2000) * 1'000'000;
  // Drawn last, so that the draws above stay what they were before it existed.
  disk.recent_block_fraction = random.chance(0.5) ? random.unit() : 0.0;
  // Likewise.
  if (nemesis.crashes && random.chance(0.75)) {
    nemesis.moment_crash_probability = 0.05 + 0.45 * random.unit();
    nemesis.moment_crash_delay_mean_ns = random.range(100, 3000) * 1'000;
    // Drawn last again, for the same reason.
    nemesis.moment_damage_probability = random.unit();
    nemesis.moment_bridge_probability = random.unit();
  }
  // Three replicas in a third more of the runs: the smallest cluster in which one replica's
  // fault is a minority's, where a broken promise of one replica is most often decisive.
  if (limits.replicas_forced == 0 && limits.replicas_min <= 3 && limits.replicas_max >= 3 &&
      random.chance(1.0 / 3)) {
    profile.replicas = 3;
  }
  // Drawn last, for the same reason.
  if (nemesis.partitions && random.chance(0.5)) {
    nemesis.rotate_probability = 0.1 + 0.5 * random.unit();
    nemesis.rotate_delay_mean_ns = random.range(1, 30) * 1'000'000;
  }
  // Drawn last, for the same reason.
  if (random.chance(0.5)) {
    network.replay_probability = 0.001 + 0.009 * random.unit();
    network.replay_delay_mean_ns = random.range(300, 5000) * 1'000'000;
  }
  // Drawn last, for the same reason.
  if (nemesis.crashes && random.chance(0.5)) {
    nemesis.strand_probability = 0.002 + 0.018 * random.unit();
    nemesis.strand_lag_mean_ns = random.range(20, 200) * 1'000'000;
  }
  return profile;
}

std::string Profile::describe() const {
  const NemesisProfile& n = nemesis;
  std::string text = fmt::format(
      "replicas={} clients={} write_fraction={:.2f} think={}ns | net latency={}+exp({})ns "
      "loss={:.3f} "
      "dup={:.3f} reorder={:.3f} corrupt={:.4f} capacity={} | disk latency={}+exp({})ns "
      "slow={:.3f} read_corrupt={:.4f} write_corrupt={:.4f} misdirect={:.4f} latent={:.4f} "
      "recent_block={:.2f} | "
      "clock offset<={}ns drift<={}ppm jump<={}ns | nemesis interval={}ns duration={}ns "
      "partitions={} clogs={} client_cutoffs={} crashes={} pauses={} wipes={} clock_jumps={} "
      "moment_crashes={:.2f}/exp({})ns damage={:.2f} bridge={:.2f} rotate={:.2f}/exp({})ns",
      replicas, clients, write_fraction, client_think_mean_ns, network.latency_min_ns,
      network.latency_tail_mean_ns, network.loss_probability, network.duplicate_probability,
      network.reorder_probability, network.corrupt_probability, network.link_capacity_messages,
      disk.latency_min_ns, disk.latency_tail_mean_ns, disk.slow_probability,
      disk.read_corrupt_probability, disk.write_corrupt_probability, disk.misdirect_probability,
      disk.latent_error_probability, disk.recent_block_fraction, clock.offset_ns_max,
      clock.drift_ppm_max, clock.jump_ns_max, n.interval_mean_ns, n.fault_duration_mean_ns,
      n.partitions, n.clogs, n.client_cutoffs, n.crashes, n.pauses, n.wipes, n.clock_jumps,
      n.moment_crash_probability, n.moment_crash_delay_mean_ns, n.moment_damage_probability,
      n.moment_bridge_probability, n.rotate_probability, n.rotate_delay_mean_ns);
  // Only where drawn: VSR's run shape hashes this text (vsr_sim_config), and the runs of the
  // profiles without it keep the shapes they had before it existed.
  if (network.replay_probability > 0) {
    text += fmt::format(" replay={:.4f}/exp({})ns", network.replay_probability,
                        network.replay_delay_mean_ns);
  }
  if (n.strand_probability > 0) {
    text += fmt::format(" strand={:.3f}/exp({})ns", n.strand_probability, n.strand_lag_mean_ns);
  }
  return text;
}

}  // namespace keel::sim
