#include "core/vsr/clock_sync.h"

#include <algorithm>
#include <cstddef>

#include "io/assert.h"

namespace keel::vsr {
namespace {

constexpr uint64_t ns_per_ms = 1'000'000;
// Configured durations (window, tolerance) beyond 2^40 ns (18 minutes) are not sane; the bound
// keeps every widened interval edge far from int64 overflow.
constexpr uint64_t duration_ns_max = uint64_t{1} << 40;
static_assert(Config::clock_duration_ms_max == duration_ns_max / ns_per_ms,
              "Config::validate must refuse what the constructor's assertions refuse");
// Halving a widening of at most 2^40 ns reaches 0 within 42 rounds.
constexpr uint32_t agreement_rounds_max = 64;

bool realtime_sane(int64_t realtime_ns) {
  return realtime_ns > -ClockSync::realtime_ns_max && realtime_ns < ClockSync::realtime_ns_max;
}

// The gap between two intervals; 0 if they overlap or touch.
int64_t distance_ns(int64_t a_lo_ns, int64_t a_hi_ns, int64_t b_lo_ns, int64_t b_hi_ns) {
  KEEL_ASSERT(a_lo_ns <= a_hi_ns);
  KEEL_ASSERT(b_lo_ns <= b_hi_ns);
  if (a_hi_ns < b_lo_ns) return b_lo_ns - a_hi_ns;
  if (b_hi_ns < a_lo_ns) return a_lo_ns - b_hi_ns;
  return 0;
}

}  // namespace

ClockSync::ClockSync(const Config& config, uint32_t self)
    : replica_count_(config.replica_count),
      self_(self),
      quorum_(config.replica_count / 2 + 1),
      window_ns_(config.clock_sync_window_ms * ns_per_ms),
      tolerance_ns_(static_cast<int64_t>(config.clock_offset_tolerance_ms * ns_per_ms)) {
  KEEL_ASSERT(config.validate().empty());
  KEEL_ASSERT(replica_count_ >= 1);
  KEEL_ASSERT(self_ < replica_count_);
  KEEL_ASSERT(quorum_ >= 1 && quorum_ <= replica_count_);
  KEEL_ASSERT(config.clock_sync_window_ms > 0);
  KEEL_ASSERT(config.clock_sync_window_ms <= duration_ns_max / ns_per_ms);
  KEEL_ASSERT(config.clock_offset_tolerance_ms <= duration_ns_max / ns_per_ms);
  samples_.resize(size_t{replica_count_} * samples_per_peer);
  ring_next_.assign(replica_count_, 0);
  rejected_.assign(replica_count_, 0);
  sources_.reserve(replica_count_);
  accepted_.reserve(replica_count_);
  edges_.reserve(size_t{2} * replica_count_);
  // Alone, our own clock is the cluster's.
  synchronized_ = replica_count_ == 1;
}

void ClockSync::sample(uint32_t peer, uint64_t ping_monotonic_ns, int64_t peer_realtime_ns,
                       uint64_t now_monotonic_ns, int64_t now_realtime_ns) {
  KEEL_ASSERT(peer < replica_count_);
  KEEL_ASSERT(realtime_sane(now_realtime_ns));
  advance(now_monotonic_ns);
  if (peer == self_) return;  // our own clock is the source [0, 0], not a sample
  if (ping_monotonic_ns > now_monotonic_ns) return;  // echoes a ping we cannot have sent
  const uint64_t rtt_ns = now_monotonic_ns - ping_monotonic_ns;
  if (rtt_ns > window_ns_) return;  // bounds the offset too loosely to be worth keeping

  // A wild peer clock is clamped rather than trusted to be sane; it is then rejected like any
  // clock outside the tolerance.
  const int64_t peer_ns = std::clamp(peer_realtime_ns, -realtime_ns_max + 1, realtime_ns_max - 1);
  const int64_t offset_lo_ns = std::clamp(peer_ns - now_realtime_ns, -offset_ns_max, offset_ns_max);
  uint32_t& next = ring_next_[peer];
  KEEL_ASSERT(next < samples_per_peer);
  samples_[size_t{peer} * samples_per_peer + next] =
      Sample{now_monotonic_ns, rtt_ns, offset_lo_ns, true};
  next = (next + 1) % samples_per_peer;
}

void ClockSync::update(uint64_t now_monotonic_ns) {
  advance(now_monotonic_ns);
  gather_sources(now_monotonic_ns);
  const Agreement first = agree(sources_);
  reject_outliers(first);

  accepted_.clear();
  for (const Source& source : sources_) {
    if (rejected_[source.replica] == 0) accepted_.push_back(source);
  }
  const Agreement second = agree(accepted_);
  // Only sources outside the first agreement's quorum were dropped, and Marzullo's interval
  // already lies within every source it counts, so the second run must agree with the first:
  // a cross-check that a wild clock cannot move or widen the interval.
  KEEL_ASSERT((first.sources >= quorum_) == (second.sources >= quorum_));
  KEEL_ASSERT(first.sources < quorum_ ||
              (second.lo_ns == first.lo_ns && second.hi_ns == first.hi_ns));

  synchronized_ = second.sources >= quorum_;
  offset_lo_ns_ = synchronized_ ? second.lo_ns : 0;
  offset_hi_ns_ = synchronized_ ? second.hi_ns : 0;
  KEEL_ASSERT(offset_lo_ns_ <= offset_hi_ns_);
  KEEL_ASSERT(offset_lo_ns_ >= -offset_ns_max - 2 * static_cast<int64_t>(duration_ns_max));
  KEEL_ASSERT(offset_hi_ns_ <= offset_ns_max + 2 * static_cast<int64_t>(duration_ns_max));
  KEEL_ASSERT(synchronized_ || replica_count_ > 1);
}

int64_t ClockSync::cluster_realtime_ns(int64_t now_realtime_ns) const {
  KEEL_ASSERT(synchronized_);
  KEEL_ASSERT(realtime_sane(now_realtime_ns));
  return now_realtime_ns + offset_lo_ns_ + (offset_hi_ns_ - offset_lo_ns_) / 2;
}

bool ClockSync::rejected(uint32_t replica) const {
  KEEL_ASSERT(replica < replica_count_);
  return rejected_[replica] != 0;
}

void ClockSync::advance(uint64_t now_monotonic_ns) {
  KEEL_ASSERT(now_monotonic_ns >= monotonic_last_ns_);  // monotonic time never goes backwards
  monotonic_last_ns_ = now_monotonic_ns;
}

void ClockSync::gather_sources(uint64_t now_monotonic_ns) {
  sources_.clear();
  for (uint32_t replica = 0; replica < replica_count_; replica++) {
    if (replica == self_) {
      sources_.push_back(Source{self_, 0, 0});
      continue;
    }
    const Sample* best = best_sample(replica, now_monotonic_ns);
    if (best == nullptr) continue;
    const int64_t hi_ns = best->offset_lo_ns + static_cast<int64_t>(best->rtt_ns);
    sources_.push_back(Source{replica, best->offset_lo_ns, hi_ns});
  }
  KEEL_ASSERT(!sources_.empty());
  KEEL_ASSERT(sources_.size() <= replica_count_);
}

// The sample with the smallest round trip (the tightest bound) among those within the window;
// ties go to the latest, which has seen the least drift since.
const ClockSync::Sample* ClockSync::best_sample(uint32_t peer, uint64_t now_monotonic_ns) const {
  KEEL_ASSERT(peer != self_);
  const Sample* best = nullptr;
  for (uint32_t slot = 0; slot < samples_per_peer; slot++) {
    const Sample& sample = samples_[size_t{peer} * samples_per_peer + slot];
    if (!sample.used) continue;
    KEEL_ASSERT(sample.arrived_monotonic_ns <= now_monotonic_ns);
    KEEL_ASSERT(sample.rtt_ns <= window_ns_);
    // Older samples may predate a drift or a jump of either clock.
    if (now_monotonic_ns - sample.arrived_monotonic_ns > window_ns_) continue;
    if (best == nullptr || sample.rtt_ns < best->rtt_ns ||
        (sample.rtt_ns == best->rtt_ns &&
         sample.arrived_monotonic_ns > best->arrived_monotonic_ns)) {
      best = &sample;
    }
  }
  return best;
}

// Widens every source by the tolerance, then by half as much, and so on down to nothing, while
// a quorum still overlaps: the tightest agreement of any quorum. Fewer than a quorum sources
// in the result means no agreement.
ClockSync::Agreement ClockSync::agree(const std::vector<Source>& sources) {
  Agreement tightest;
  int64_t widen_ns = tolerance_ns_;
  for (uint32_t round = 0;; round++) {
    KEEL_ASSERT(round < agreement_rounds_max);
    const Agreement agreement = marzullo(sources, widen_ns);
    if (agreement.sources < quorum_) break;
    tightest = agreement;
    if (widen_ns == 0) break;
    widen_ns /= 2;
  }
  KEEL_ASSERT(tightest.lo_ns <= tightest.hi_ns);
  KEEL_ASSERT(tightest.sources == 0 || tightest.sources >= quorum_);
  return tightest;
}

// Marzullo's algorithm: the smallest interval shared by the most sources, each widened by
// widen_ns on both sides.
ClockSync::Agreement ClockSync::marzullo(const std::vector<Source>& sources, int64_t widen_ns) {
  KEEL_ASSERT(widen_ns >= 0 && widen_ns <= tolerance_ns_);
  KEEL_ASSERT(sources.size() <= replica_count_);
  edges_.clear();
  for (const Source& source : sources) {
    KEEL_ASSERT(source.lo_ns <= source.hi_ns);
    edges_.push_back(Edge{source.lo_ns - widen_ns, false});
    edges_.push_back(Edge{source.hi_ns + widen_ns, true});
  }
  // Starts before ends at the same offset: touching intervals overlap. Equal edges are
  // indistinguishable, so the order is fully determined.
  std::sort(edges_.begin(), edges_.end(), [](const Edge& a, const Edge& b) {
    if (a.offset_ns != b.offset_ns) return a.offset_ns < b.offset_ns;
    return !a.end && b.end;
  });

  Agreement best;
  uint32_t open = 0;
  for (size_t i = 0; i < edges_.size(); i++) {
    if (edges_[i].end) {
      KEEL_ASSERT(open > 0);
      open--;
      continue;
    }
    open++;
    // `open` sources overlap from this start to the next edge; there is one (this source's end).
    KEEL_ASSERT(i + 1 < edges_.size());
    const int64_t lo_ns = edges_[i].offset_ns;
    const int64_t hi_ns = edges_[i + 1].offset_ns;
    if (open > best.sources || (open == best.sources && hi_ns - lo_ns < best.hi_ns - best.lo_ns)) {
      best = Agreement{open, lo_ns, hi_ns};
    }
  }
  KEEL_ASSERT(open == 0);
  KEEL_ASSERT(best.sources <= sources.size());
  KEEL_ASSERT(sources.empty() || best.sources >= 1);
  return best;
}

// A source further than the tolerance from the agreement is rejected. Without agreement there
// is nothing to measure against, so nobody is.
void ClockSync::reject_outliers(const Agreement& agreement) {
  const bool agreed = agreement.sources >= quorum_;
  for (uint32_t replica = 0; replica < replica_count_; replica++) {
    const auto source = std::find_if(sources_.begin(), sources_.end(),
                                     [replica](const Source& s) { return s.replica == replica; });
    const bool outlier =
        agreed && source != sources_.end() &&
        distance_ns(source->lo_ns, source->hi_ns, agreement.lo_ns, agreement.hi_ns) > tolerance_ns_;
    if (outlier && rejected_[replica] == 0) rejections_++;
    rejected_[replica] = outlier ? 1 : 0;
  }
  KEEL_ASSERT(!agreed || std::count(rejected_.begin(), rejected_.end(), 1) <=
                             static_cast<std::ptrdiff_t>(replica_count_ - quorum_));
}

}  // namespace keel::vsr
