#pragma once
// Seeded pseudo-randomness. Every random choice anywhere in keel comes from a Random derived from
// the run seed, so a seed fixes a run. The generator is xoshiro256** seeded through splitmix64
// (Blackman & Vigna); its output, unlike std's distributions, is the same on every platform.

#include <cmath>
#include <cstdint>

#include "io/assert.h"

namespace keel::io {

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Random {
 public:
  explicit Random(uint64_t seed) {
    uint64_t state = seed;
    for (uint64_t& word : state_) word = splitmix64(state);
  }

  // An independent generator for a named stream (a node, a subsystem) of the same seed.
  static Random derive(uint64_t seed, uint64_t stream) {
    uint64_t state = stream * 0xd1342543de82ef95ULL + 1;
    return Random(seed ^ splitmix64(state));
  }

  uint64_t next_u64() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound). Lemire's multiply-and-reject, unbiased.
  uint64_t uniform(uint64_t bound) {
    KEEL_ASSERT(bound > 0);
    __uint128_t product = static_cast<__uint128_t>(next_u64()) * bound;
    uint64_t low = static_cast<uint64_t>(product);
    if (low < bound) {
      const uint64_t threshold = -bound % bound;
      while (low < threshold) {
        product = static_cast<__uint128_t>(next_u64()) * bound;
        low = static_cast<uint64_t>(product);
      }
    }
    return static_cast<uint64_t>(product >> 64);
  }

  // Uniform in [low, high], inclusive.
  uint64_t range(uint64_t low, uint64_t high) {
    KEEL_ASSERT(low <= high);
    if (high - low == UINT64_MAX) return next_u64();
    return low + uniform(high - low + 1);
  }

  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  bool chance(double probability) {
    KEEL_ASSERT(probability >= 0.0 && probability <= 1.0);
    return unit() < probability;
  }

  // Exponentially distributed with the given mean, capped at 20 means so a tail stays bounded.
  // It goes through std::log, so, unlike the raw generator, its last bits could differ between
  // C libraries: traces replay on the platform that recorded them.
  uint64_t exponential(uint64_t mean) {
    if (mean == 0) return 0;
    const double sample = -std::log(1.0 - unit()) * static_cast<double>(mean);
    const double cap = 20.0 * static_cast<double>(mean);
    return static_cast<uint64_t>(sample < cap ? sample : cap);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

}  // namespace keel::io
