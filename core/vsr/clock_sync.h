#pragma once
// Clock synchronisation: a replica's realtime clock corrected into the interval a quorum of the
// cluster's clocks agree on, in the manner of TigerBeetle's clock (Marzullo's algorithm over
// ping/pong round trips).
//
// Each round trip with a peer bounds the peer's clock offset relative to our own: the peer read
// its realtime at some instant between the ping leaving and the pong arriving, so the offset lies
// in [peer_realtime - now_realtime, peer_realtime - now_realtime + rtt], that is offset +- rtt/2
// around the midpoint. Our own clock is the source [0, 0].
//
// Agreement: clocks never agree to the nanosecond, so each source's interval is first widened by
// the tolerance on both sides; if a quorum of sources overlaps, the widening is halved again and
// again while a quorum still overlaps (down to none). The agreed interval is the smallest one
// Marzullo's algorithm finds at the tightest widening that kept a quorum: the tightest agreement
// of any quorum, so a quorum of accurate clocks pins the time to within their round trips.
//
// Rejection: a source whose own (unwidened) interval lies further than the tolerance from the
// agreed interval is rejected, and the agreement is run again without the rejected sources, so a
// wild clock (our own included) never shapes the result.
//
// Memory is fixed at construction: a ring of the latest samples_per_peer samples per replica.

#include <cstdint>
#include <vector>

#include "core/vsr/config.h"

namespace keel::vsr {

class ClockSync {
 public:
  // The latest samples kept per peer; update() picks the best of those within the window.
  static constexpr uint32_t samples_per_peer = 8;
  // Realtime readings (ns since the epoch) must lie strictly within +-realtime_ns_max (the year
  // 2116): then differences of two readings fit in an int64.
  static constexpr int64_t realtime_ns_max = int64_t{1} << 62;
  // Offsets are clamped to +-offset_ns_max (73 years): such a clock is rejected anyway, and the
  // clamp keeps every interval edge and distance within an int64.
  static constexpr int64_t offset_ns_max = int64_t{1} << 61;

  // The config must be valid; self < config.replica_count.
  ClockSync(const Config& config, uint32_t self);

  // One ping/pong round trip with peer: the ping left at ping_monotonic_ns (own monotonic clock),
  // the pong carries the peer's realtime when it answered, and arrived at now_monotonic_ns when
  // our own realtime read now_realtime_ns. Ignores samples from self, from the future (ping after
  // now), or with a round trip longer than the window. ping_monotonic_ns and peer_realtime_ns
  // come off the network and are not trusted; peer (a checked sender) and the now_ readings are.
  void sample(uint32_t peer, uint64_t ping_monotonic_ns, int64_t peer_realtime_ns,
              uint64_t now_monotonic_ns, int64_t now_realtime_ns);

  // Re-runs the agreement over the samples that arrived within clock_sync_window_ms before now,
  // using each peer's best (smallest round trip) one. Synchronised iff at least a quorum
  // (replica_count / 2 + 1) of sources, counting self, agree. A single replica is always
  // synchronised with offset 0.
  void update(uint64_t now_monotonic_ns);

  bool synchronized() const { return synchronized_; }
  // Own realtime corrected by the midpoint of the agreed interval. Only when synchronized().
  int64_t cluster_realtime_ns(int64_t now_realtime_ns) const;
  // The agreed interval of offsets relative to own clock; [0, 0] when not synchronized().
  int64_t offset_lo_ns() const { return offset_lo_ns_; }
  int64_t offset_hi_ns() const { return offset_hi_ns_; }
  // As of the last update(); self included. Without agreement nobody is rejected.
  bool rejected(uint32_t replica) const;
  // How many times a replica went from accepted to rejected (transitions, not updates).
  uint64_t rejections() const { return rejections_; }

 private:
  struct Sample {
    uint64_t arrived_monotonic_ns = 0;
    uint64_t rtt_ns = 0;
    int64_t offset_lo_ns = 0;  // the interval is [offset_lo_ns, offset_lo_ns + rtt_ns]
    bool used = false;
  };
  struct Source {
    uint32_t replica = 0;
    int64_t lo_ns = 0;
    int64_t hi_ns = 0;
  };
  struct Edge {
    int64_t offset_ns = 0;
    bool end = false;  // false sorts first: touching intervals overlap
  };
  struct Agreement {
    uint32_t sources = 0;  // how many sources share the interval
    int64_t lo_ns = 0;
    int64_t hi_ns = 0;
  };

  void advance(uint64_t now_monotonic_ns);
  void gather_sources(uint64_t now_monotonic_ns);
  const Sample* best_sample(uint32_t peer, uint64_t now_monotonic_ns) const;
  Agreement agree(const std::vector<Source>& sources);
  Agreement marzullo(const std::vector<Source>& sources, int64_t widen_ns);
  void reject_outliers(const Agreement& agreement);

  const uint32_t replica_count_;
  const uint32_t self_;
  const uint32_t quorum_;
  const uint64_t window_ns_;
  const int64_t tolerance_ns_;

  std::vector<Sample> samples_;      // replica_count * samples_per_peer, a ring per replica
  std::vector<uint32_t> ring_next_;  // per replica: the slot the next sample overwrites
  std::vector<uint8_t> rejected_;    // per replica
  // Scratch space for update(), sized once.
  std::vector<Source> sources_;
  std::vector<Source> accepted_;
  std::vector<Edge> edges_;

  uint64_t monotonic_last_ns_ = 0;
  uint64_t rejections_ = 0;
  bool synchronized_ = false;
  int64_t offset_lo_ns_ = 0;
  int64_t offset_hi_ns_ = 0;
};

}  // namespace keel::vsr
