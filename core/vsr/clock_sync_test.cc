// Clock synchronisation against clocks with known errors on one true timeline: a quorum of
// agreeing clocks synchronises, the result stays within the round trips of the truth, wild clocks
// are rejected (by others and by themselves), and stale samples stop counting.

#include "core/vsr/clock_sync.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <utility>
#include <vector>

namespace keel::vsr {
namespace {

constexpr uint64_t ms = 1'000'000;  // in ns
constexpr int64_t ms_signed = 1'000'000;
constexpr int64_t epoch_ns = 1'700'000'000'000'000'000;  // realtime at true time 0
constexpr uint64_t start_ns = 10'000 * ms;

Config config_of(uint32_t replica_count) {
  Config config;
  config.replica_count = replica_count;
  return config;
}

int64_t tolerance_ns(const Config& config) {
  return static_cast<int64_t>(config.clock_offset_tolerance_ms * ms);
}

// Clocks on one true timeline: replica i's realtime reads the true realtime plus error_ns[i].
// Monotonic clocks count true time from a base of their own (only differences matter).
struct Clocks {
  std::vector<int64_t> error_ns;

  static int64_t true_realtime_ns(uint64_t true_ns) {
    return epoch_ns + static_cast<int64_t>(true_ns);
  }
  int64_t realtime_ns(uint32_t replica, uint64_t true_ns) const {
    return true_realtime_ns(true_ns) + error_ns[replica];
  }
  static uint64_t monotonic_ns(uint32_t replica, uint64_t true_ns) {
    return true_ns + replica * 1'000 * ms;
  }
  // One ping from self to peer leaving at true time sent_ns, taking there_ns to arrive, and its
  // pong taking back_ns to return. Returns the true time the pong arrived.
  uint64_t round_trip(ClockSync& sync, uint32_t self, uint32_t peer, uint64_t sent_ns,
                      uint64_t there_ns, uint64_t back_ns) const {
    const uint64_t arrived_ns = sent_ns + there_ns + back_ns;
    sync.sample(peer, monotonic_ns(self, sent_ns), realtime_ns(peer, sent_ns + there_ns),
                monotonic_ns(self, arrived_ns), realtime_ns(self, arrived_ns));
    return arrived_ns;
  }
  // How far self's corrected clock is from the truth at true time now_ns.
  int64_t cluster_error_ns(const ClockSync& sync, uint32_t self, uint64_t now_ns) const {
    return sync.cluster_realtime_ns(realtime_ns(self, now_ns)) - true_realtime_ns(now_ns);
  }
};

TEST(ClockSync, SingleReplicaIsAlwaysSynchronized) {
  ClockSync sync(config_of(1), 0);
  EXPECT_TRUE(sync.synchronized());
  EXPECT_EQ(sync.cluster_realtime_ns(epoch_ns + 123), epoch_ns + 123);
  // A sample claiming to come from self is not a second clock.
  sync.sample(0, 0, epoch_ns + 5 * ms_signed, 10, epoch_ns);
  sync.update(start_ns);
  EXPECT_TRUE(sync.synchronized());
  EXPECT_EQ(sync.offset_lo_ns(), 0);
  EXPECT_EQ(sync.offset_hi_ns(), 0);
  EXPECT_EQ(sync.cluster_realtime_ns(epoch_ns + 123), epoch_ns + 123);
  EXPECT_FALSE(sync.rejected(0));
  // Long after any window.
  sync.update(start_ns + 1'000'000 * ms);
  EXPECT_TRUE(sync.synchronized());
  EXPECT_EQ(sync.rejections(), 0u);
}

TEST(ClockSync, ThreeReplicasWithSmallOffsetsSynchronize) {
  const Config config = config_of(3);
  const Clocks clocks{{30 * ms_signed, -20 * ms_signed, 5 * ms_signed}};
  for (uint32_t self = 0; self < 3; self++) {
    ClockSync sync(config, self);
    sync.update(Clocks::monotonic_ns(self, start_ns));
    EXPECT_FALSE(sync.synchronized()) << "no samples yet";
    uint64_t now_ns = start_ns;
    for (uint32_t peer = 0; peer < 3; peer++) {
      if (peer != self) now_ns = clocks.round_trip(sync, self, peer, now_ns, 1 * ms, 2 * ms);
    }
    sync.update(Clocks::monotonic_ns(self, now_ns));
    ASSERT_TRUE(sync.synchronized()) << "replica " << self;
    for (uint32_t replica = 0; replica < 3; replica++) EXPECT_FALSE(sync.rejected(replica));
    const int64_t error_ns = clocks.cluster_error_ns(sync, self, now_ns);
    EXPECT_LE(std::abs(error_ns), tolerance_ns(config)) << "replica " << self;
    // Tighter: between the cluster's slowest and fastest clocks, give or take a round trip.
    EXPECT_GE(error_ns, -23 * ms_signed);
    EXPECT_LE(error_ns, 33 * ms_signed);
  }
}

TEST(ClockSync, AGoodReplicaRejectsAFarPeer) {
  const Clocks clocks{{0, 3 * ms_signed, 1'000 * ms_signed}};
  ClockSync sync(config_of(3), 0);
  uint64_t now_ns = clocks.round_trip(sync, 0, 1, start_ns, 1 * ms, 1 * ms);
  now_ns = clocks.round_trip(sync, 0, 2, now_ns, 1 * ms, 1 * ms);
  sync.update(Clocks::monotonic_ns(0, now_ns));
  ASSERT_TRUE(sync.synchronized());
  EXPECT_TRUE(sync.rejected(2));
  EXPECT_FALSE(sync.rejected(0));
  EXPECT_FALSE(sync.rejected(1));
  EXPECT_EQ(sync.rejections(), 1u);
  // The agreement is between self and replica 1, nowhere near replica 2.
  EXPECT_GE(sync.offset_lo_ns(), -1 * ms_signed);
  EXPECT_LE(sync.offset_hi_ns(), 4 * ms_signed);
  EXPECT_LE(std::abs(clocks.cluster_error_ns(sync, 0, now_ns)), 4 * ms_signed);
}

TEST(ClockSync, AFarReplicaRejectsItselfAndFollowsTheMajority) {
  const Clocks clocks{{0, 3 * ms_signed, 1'000 * ms_signed}};
  ClockSync sync(config_of(3), 2);
  uint64_t now_ns = clocks.round_trip(sync, 2, 0, start_ns, 1 * ms, 1 * ms);
  now_ns = clocks.round_trip(sync, 2, 1, now_ns, 1 * ms, 1 * ms);
  sync.update(Clocks::monotonic_ns(2, now_ns));
  ASSERT_TRUE(sync.synchronized());
  EXPECT_TRUE(sync.rejected(2));
  EXPECT_FALSE(sync.rejected(0));
  EXPECT_FALSE(sync.rejected(1));
  EXPECT_EQ(sync.rejections(), 1u);
  // Own clock is a second fast: the agreed offset says so.
  EXPECT_GE(sync.offset_lo_ns(), -1'001 * ms_signed);
  EXPECT_LE(sync.offset_hi_ns(), -996 * ms_signed);
  // Corrected to the majority's clocks (0 and +3 ms), within the 1 ms one-way delays.
  const int64_t error_ns = clocks.cluster_error_ns(sync, 2, now_ns);
  EXPECT_GE(error_ns, -1 * ms_signed);
  EXPECT_LE(error_ns, 4 * ms_signed);
}

TEST(ClockSync, NeedsAQuorumCountingSelf) {
  // Five replicas: a quorum is three clocks, ours and two peers'.
  const Clocks clocks{{0, 1 * ms_signed, -1 * ms_signed, 0, 0}};
  ClockSync sync(config_of(5), 0);
  uint64_t now_ns = clocks.round_trip(sync, 0, 1, start_ns, 1 * ms, 1 * ms);
  sync.update(Clocks::monotonic_ns(0, now_ns));
  EXPECT_FALSE(sync.synchronized());
  now_ns = clocks.round_trip(sync, 0, 2, now_ns, 1 * ms, 1 * ms);
  sync.update(Clocks::monotonic_ns(0, now_ns));
  EXPECT_TRUE(sync.synchronized());

  // Three replicas, but our clock and the only peer that answered are a second apart: two
  // sources, no two agreeing, and no way to tell which is wrong, so nobody is rejected.
  const Clocks split{{0, 1'000 * ms_signed, 0}};
  ClockSync alone(config_of(3), 0);
  now_ns = split.round_trip(alone, 0, 1, start_ns, 1 * ms, 1 * ms);
  alone.update(Clocks::monotonic_ns(0, now_ns));
  EXPECT_FALSE(alone.synchronized());
  EXPECT_FALSE(alone.rejected(0));
  EXPECT_FALSE(alone.rejected(1));
  EXPECT_EQ(alone.rejections(), 0u);
}

TEST(ClockSync, UsesEachPeersSmallestRoundTripInTheWindow) {
  // Self runs 50 ms fast; its peers keep true time. Each peer answers a quick round trip among
  // slow ones (first, so neither the latest nor the earliest sample is the best).
  const Clocks clocks{{50 * ms_signed, 0, 0}};
  ClockSync sync(config_of(3), 0);
  uint64_t now_ns = start_ns;
  for (uint32_t peer = 1; peer <= 2; peer++) {
    now_ns = clocks.round_trip(sync, 0, peer, now_ns, 30 * ms, 30 * ms);
    now_ns = clocks.round_trip(sync, 0, peer, now_ns, 1 * ms, 1 * ms);
    now_ns = clocks.round_trip(sync, 0, peer, now_ns, 20 * ms, 20 * ms);
  }
  sync.update(Clocks::monotonic_ns(0, now_ns));
  ASSERT_TRUE(sync.synchronized());
  EXPECT_LE(sync.offset_lo_ns(), -50 * ms_signed);
  EXPECT_GE(sync.offset_hi_ns(), -50 * ms_signed);
  EXPECT_LE(sync.offset_hi_ns() - sync.offset_lo_ns(), 2 * ms_signed);
}

TEST(ClockSync, SamplesOlderThanTheWindowAreDropped) {
  const Config config = config_of(3);
  const uint64_t window_ns = config.clock_sync_window_ms * ms;
  const Clocks clocks{{0, 2 * ms_signed, -2 * ms_signed}};
  ClockSync sync(config, 0);
  const uint64_t first_ns = clocks.round_trip(sync, 0, 1, start_ns, 1 * ms, 1 * ms);
  const uint64_t second_ns = clocks.round_trip(sync, 0, 2, first_ns, 1 * ms, 1 * ms);
  sync.update(Clocks::monotonic_ns(0, second_ns));
  ASSERT_TRUE(sync.synchronized());

  // Replica 1 goes silent; replica 2 keeps answering: self and 2 are still a quorum.
  const uint64_t third_ns = clocks.round_trip(sync, 0, 2, second_ns + window_ns / 2, ms, ms);
  sync.update(Clocks::monotonic_ns(0, first_ns + window_ns));
  EXPECT_TRUE(sync.synchronized()) << "a sample exactly a window old still counts";
  sync.update(Clocks::monotonic_ns(0, first_ns + window_ns + 1));
  EXPECT_TRUE(sync.synchronized());

  // Now both are silent.
  sync.update(Clocks::monotonic_ns(0, third_ns + window_ns));
  EXPECT_TRUE(sync.synchronized());
  sync.update(Clocks::monotonic_ns(0, third_ns + window_ns + 1));
  EXPECT_FALSE(sync.synchronized());
  EXPECT_EQ(sync.offset_lo_ns(), 0);
  EXPECT_EQ(sync.offset_hi_ns(), 0);
  for (uint32_t replica = 0; replica < 3; replica++) EXPECT_FALSE(sync.rejected(replica));
}

TEST(ClockSync, IgnoresSamplesFromSelfTheFutureAndSlowRoundTrips) {
  const Config config = config_of(3);
  const uint64_t window_ns = config.clock_sync_window_ms * ms;
  ClockSync sync(config, 0);
  const uint64_t now_ns = start_ns + 2 * window_ns;
  const int64_t realtime_ns = Clocks::true_realtime_ns(now_ns);
  sync.sample(0, now_ns - ms, realtime_ns, now_ns, realtime_ns);             // self
  sync.sample(1, now_ns + 1, realtime_ns, now_ns, realtime_ns);              // future
  sync.sample(2, now_ns - window_ns - 1, realtime_ns, now_ns, realtime_ns);  // too slow
  sync.update(now_ns);
  EXPECT_FALSE(sync.synchronized());
  // A round trip of exactly the window is still a sample (a wide one).
  sync.sample(2, now_ns - window_ns, realtime_ns, now_ns, realtime_ns);
  sync.update(now_ns);
  EXPECT_TRUE(sync.synchronized());
}

// Self runs 50 ms fast, beyond what its peers' round trips allow, so the agreement is the
// peers' intervals alone: as wide as their round trips, and holding the true offset.
ClockSync correct_fast_clock(const Clocks& clocks, uint64_t there_ns, uint64_t back_ns,
                             uint64_t* now_ns) {
  ClockSync sync(config_of(3), 0);
  *now_ns = clocks.round_trip(sync, 0, 1, start_ns, there_ns, back_ns);
  *now_ns = clocks.round_trip(sync, 0, 2, *now_ns, there_ns, back_ns);
  sync.update(Clocks::monotonic_ns(0, *now_ns));
  return sync;
}

TEST(ClockSync, LargeRoundTripsWidenTheInterval) {
  const Clocks clocks{{50 * ms_signed, 0, 0}};
  uint64_t now_ns = 0;
  const ClockSync fast = correct_fast_clock(clocks, 1 * ms, 1 * ms, &now_ns);
  ASSERT_TRUE(fast.synchronized());
  EXPECT_LE(fast.offset_lo_ns(), -50 * ms_signed);
  EXPECT_GE(fast.offset_hi_ns(), -50 * ms_signed);
  EXPECT_LE(fast.offset_hi_ns() - fast.offset_lo_ns(), 2 * ms_signed);
  EXPECT_LE(std::abs(clocks.cluster_error_ns(fast, 0, now_ns)), 1 * ms_signed);

  const ClockSync slow = correct_fast_clock(clocks, 20 * ms, 20 * ms, &now_ns);
  ASSERT_TRUE(slow.synchronized());
  EXPECT_LE(slow.offset_lo_ns(), -50 * ms_signed);
  EXPECT_GE(slow.offset_hi_ns(), -50 * ms_signed);
  EXPECT_GE(slow.offset_hi_ns() - slow.offset_lo_ns(), 40 * ms_signed);
  EXPECT_LE(std::abs(clocks.cluster_error_ns(slow, 0, now_ns)), 20 * ms_signed);
}

TEST(ClockSync, AsymmetricRoundTripsWidenTheIntervalAroundTheTrueOffset) {
  const Clocks clocks{{50 * ms_signed, 0, 0}};
  uint64_t now_ns = 0;
  // The ping is quick, the pong slow: the midpoint guess is off, but never by more than rtt/2.
  const ClockSync sync = correct_fast_clock(clocks, 1 * ms, 39 * ms, &now_ns);
  ASSERT_TRUE(sync.synchronized());
  EXPECT_LE(sync.offset_lo_ns(), -50 * ms_signed);
  EXPECT_GE(sync.offset_hi_ns(), -50 * ms_signed);
  EXPECT_GE(sync.offset_hi_ns() - sync.offset_lo_ns(), 40 * ms_signed);
  const int64_t error_ns = clocks.cluster_error_ns(sync, 0, now_ns);
  EXPECT_LE(std::abs(error_ns), 20 * ms_signed);
  EXPECT_GE(std::abs(error_ns), 18 * ms_signed);
}

TEST(ClockSync, AWildClockDoesNotMoveOrWidenTheInterval) {
  const Clocks clocks{{0, 2 * ms_signed, -3 * ms_signed, 1 * ms_signed, 0}};
  const auto run = [&](int wild_kind) {
    ClockSync sync(config_of(5), 0);
    uint64_t now_ns = start_ns;
    for (uint32_t peer = 1; peer <= 3; peer++) {
      now_ns = clocks.round_trip(sync, 0, peer, now_ns, (peer + 1) * ms, peer * ms);
    }
    const int64_t own_ns = clocks.realtime_ns(0, now_ns);
    const int64_t wild_realtime_ns[] = {own_ns + 10'000 * ms_signed,
                                        std::numeric_limits<int64_t>::max(),
                                        std::numeric_limits<int64_t>::min()};
    if (wild_kind >= 0) {
      // Replica 4's clock answers with nonsense, over a long round trip.
      sync.sample(4, Clocks::monotonic_ns(0, now_ns - 900 * ms), wild_realtime_ns[wild_kind],
                  Clocks::monotonic_ns(0, now_ns), own_ns);
    }
    sync.update(Clocks::monotonic_ns(0, now_ns));
    EXPECT_TRUE(sync.synchronized());
    EXPECT_EQ(sync.rejected(4), wild_kind >= 0);
    return std::pair{sync.offset_lo_ns(), sync.offset_hi_ns()};
  };
  const auto without_wild = run(-1);
  EXPECT_EQ(run(0), without_wild);
  EXPECT_EQ(run(1), without_wild);
  EXPECT_EQ(run(2), without_wild);
}

TEST(ClockSync, RejectionsCountTransitionsNotUpdates) {
  Clocks clocks{{0, 1 * ms_signed, 1'000 * ms_signed}};
  ClockSync sync(config_of(3), 0);
  uint64_t now_ns = start_ns;
  const auto round = [&](uint32_t samples_of_2) {
    now_ns = clocks.round_trip(sync, 0, 1, now_ns, 1 * ms, 1 * ms);
    for (uint32_t i = 0; i < samples_of_2; i++) {
      now_ns = clocks.round_trip(sync, 0, 2, now_ns, 1 * ms, 1 * ms);
    }
    sync.update(Clocks::monotonic_ns(0, now_ns));
    EXPECT_TRUE(sync.synchronized());
  };
  for (int i = 0; i < 5; i++) {
    round(1);
    EXPECT_TRUE(sync.rejected(2));
    EXPECT_EQ(sync.rejections(), 1u);
  }
  // Replica 2's clock is fixed; a full ring of new samples displaces the old ones.
  clocks.error_ns[2] = 0;
  round(ClockSync::samples_per_peer);
  EXPECT_FALSE(sync.rejected(2));
  EXPECT_EQ(sync.rejections(), 1u);
  round(1);
  EXPECT_EQ(sync.rejections(), 1u);
  // It breaks again.
  clocks.error_ns[2] = -700 * ms_signed;
  round(ClockSync::samples_per_peer);
  EXPECT_TRUE(sync.rejected(2));
  EXPECT_EQ(sync.rejections(), 2u);
  round(1);
  round(1);
  EXPECT_EQ(sync.rejections(), 2u);
}

// Each of self's peers in sampled answers one to three round trips, from true time from_ns on,
// with symmetric random one-way delays of at most 10 ms. Returns the true time of the last
// arrival; raises *rtt_max_ns to the longest round trip.
uint64_t sample_peers(const Clocks& clocks, ClockSync& sync, uint32_t self,
                      const std::vector<uint32_t>& sampled, uint64_t from_ns,
                      uint64_t* rtt_max_ns) {
  uint64_t now_ns = from_ns;
  for (const uint32_t peer : sampled) {
    const int rounds = *rc::gen::inRange(1, 4);
    for (int i = 0; i < rounds; i++) {
      const uint64_t one_way_ns = *rc::gen::inRange<uint64_t>(0, 10 * ms + 1);
      now_ns = clocks.round_trip(sync, self, peer, now_ns, one_way_ns, one_way_ns);
      *rtt_max_ns = std::max(*rtt_max_ns, 2 * one_way_ns);
    }
  }
  return now_ns;
}

// The peers after self, count of them.
std::vector<uint32_t> peers_after(uint32_t self, uint32_t count, uint32_t replica_count) {
  std::vector<uint32_t> peers;
  for (uint32_t i = 1; i <= count; i++) peers.push_back((self + i) % replica_count);
  return peers;
}

// A quorum of peers keeps true time; own clock is off by up to a quarter of the tolerance.
// The correction recovers true time to within half a round trip.
RC_GTEST_PROP(ClockSyncProperty, AQuorumOnTrueTimeCorrectsOwnClock, ()) {
  const uint32_t replica_count = *rc::gen::inRange<uint32_t>(3, 7);
  const uint32_t quorum = replica_count / 2 + 1;
  const uint32_t self = *rc::gen::inRange<uint32_t>(0, replica_count);
  const Config config = config_of(replica_count);
  const int64_t error_max_ns = tolerance_ns(config) / 4;
  Clocks clocks{std::vector<int64_t>(replica_count, 0)};
  clocks.error_ns[self] = *rc::gen::inRange<int64_t>(-error_max_ns, error_max_ns + 1);

  ClockSync sync(config, self);
  const uint32_t sampled = *rc::gen::inRange<uint32_t>(quorum, replica_count);
  uint64_t rtt_max_ns = 0;
  const uint64_t now_ns = sample_peers(
      clocks, sync, self, peers_after(self, sampled, replica_count), start_ns, &rtt_max_ns);
  sync.update(Clocks::monotonic_ns(self, now_ns));
  RC_ASSERT(sync.synchronized());
  for (uint32_t replica = 0; replica < replica_count; replica++) {
    RC_ASSERT(!sync.rejected(replica));
  }
  const int64_t error_ns = clocks.cluster_error_ns(sync, self, now_ns);
  RC_ASSERT(std::abs(error_ns) <= static_cast<int64_t>(rtt_max_ns / 2) + 1);
}

// Every clock is off by up to a quarter of the tolerance, and only a quorum (counting self) may
// have answered: synchronised, nobody rejected, and the corrected time lies among the clocks
// that answered, give or take half a round trip.
RC_GTEST_PROP(ClockSyncProperty, AgreementStaysAmongTheClocksThatAnswered, ()) {
  const uint32_t replica_count = *rc::gen::inRange<uint32_t>(1, 7);
  const uint32_t quorum = replica_count / 2 + 1;
  const uint32_t self = *rc::gen::inRange<uint32_t>(0, replica_count);
  const Config config = config_of(replica_count);
  const int64_t error_max_ns = tolerance_ns(config) / 4;
  Clocks clocks;
  for (uint32_t replica = 0; replica < replica_count; replica++) {
    clocks.error_ns.push_back(*rc::gen::inRange<int64_t>(-error_max_ns, error_max_ns + 1));
  }

  ClockSync sync(config, self);
  const uint32_t sampled = *rc::gen::inRange<uint32_t>(quorum - 1, replica_count);
  const std::vector<uint32_t> peers = peers_after(self, sampled, replica_count);
  uint64_t rtt_max_ns = 0;
  const uint64_t now_ns = sample_peers(clocks, sync, self, peers, start_ns, &rtt_max_ns);
  sync.update(Clocks::monotonic_ns(self, now_ns));
  RC_ASSERT(sync.synchronized());
  for (uint32_t replica = 0; replica < replica_count; replica++) {
    RC_ASSERT(!sync.rejected(replica));
  }
  int64_t error_lo_ns = clocks.error_ns[self];
  int64_t error_hi_ns = clocks.error_ns[self];
  for (const uint32_t peer : peers) {
    error_lo_ns = std::min(error_lo_ns, clocks.error_ns[peer]);
    error_hi_ns = std::max(error_hi_ns, clocks.error_ns[peer]);
  }
  const int64_t slack_ns = static_cast<int64_t>(rtt_max_ns / 2) + 1;
  const int64_t error_ns = clocks.cluster_error_ns(sync, self, now_ns);
  RC_ASSERT(error_ns >= error_lo_ns - slack_ns);
  RC_ASSERT(error_ns <= error_hi_ns + slack_ns);
}

// One clock is off by 4 to 10^7 tolerances; every replica, the wild one included, rejects it,
// once over several updates, and keeps to the good clocks.
RC_GTEST_PROP(ClockSyncProperty, OneWildClockIsRejectedByEveryone, ()) {
  const uint32_t replica_count = *rc::gen::inRange<uint32_t>(3, 7);
  const uint32_t wild = *rc::gen::inRange<uint32_t>(0, replica_count);
  const Config config = config_of(replica_count);
  const int64_t error_max_ns = tolerance_ns(config) / 4;
  Clocks clocks;
  int64_t good_lo_ns = error_max_ns;
  int64_t good_hi_ns = -error_max_ns;
  for (uint32_t replica = 0; replica < replica_count; replica++) {
    clocks.error_ns.push_back(*rc::gen::inRange<int64_t>(-error_max_ns, error_max_ns + 1));
    if (replica == wild) continue;
    good_lo_ns = std::min(good_lo_ns, clocks.error_ns.back());
    good_hi_ns = std::max(good_hi_ns, clocks.error_ns.back());
  }
  const int64_t wild_ns =
      *rc::gen::inRange<int64_t>(4 * tolerance_ns(config), 10'000'000 * tolerance_ns(config));
  clocks.error_ns[wild] = *rc::gen::arbitrary<bool>() ? wild_ns : -wild_ns;

  for (uint32_t self = 0; self < replica_count; self++) {
    ClockSync sync(config, self);
    const std::vector<uint32_t> peers = peers_after(self, replica_count - 1, replica_count);
    uint64_t rtt_max_ns = 0;
    uint64_t now_ns = start_ns;
    for (int update = 0; update < 3; update++) {
      now_ns = sample_peers(clocks, sync, self, peers, now_ns + 1'000 * ms, &rtt_max_ns);
      sync.update(Clocks::monotonic_ns(self, now_ns));
      RC_ASSERT(sync.synchronized());
      for (uint32_t replica = 0; replica < replica_count; replica++) {
        RC_ASSERT(sync.rejected(replica) == (replica == wild));
      }
      RC_ASSERT(sync.rejections() == 1u);
      const int64_t slack_ns = static_cast<int64_t>(rtt_max_ns / 2) + 1;
      const int64_t error_ns = clocks.cluster_error_ns(sync, self, now_ns);
      RC_ASSERT(error_ns >= good_lo_ns - slack_ns);
      RC_ASSERT(error_ns <= good_hi_ns + slack_ns);
    }
  }
}

}  // namespace
}  // namespace keel::vsr
