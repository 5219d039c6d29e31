// Seeded random numbers that are identical on every platform and library version
// (std:: distributions are not): SplitMix64 (Steele, Lea & Flood 2014).
//
//   uint64_t child = fracture::splitmix64(seed ^ index);   // derive a seed
//   fracture::SplitMix64 rng{seed};
//   uint64_t k = rng.below(n);                              // uniform in [0, n), no modulo bias
//   double u = rng.uniform();                               // uniform in (0, 1)
#pragma once
#include <cstdint>

namespace fracture {

/// The SplitMix64 output function of one state: a strong 64-bit mix, used to derive seeds.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// The SplitMix64 generator: next() returns splitmix64 of the state, then advances it.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    const uint64_t r = splitmix64(state);
    state += 0x9E3779B97F4A7C15ull;
    return r;
  }
  /// Uniform integer in [0, n), n > 0, by rejection sampling.
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next(); while (x >= limit);
    return x % n;
  }
  /// Uniform double in (0, 1) from the top 53 bits.
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) / 9007199254740992.0; }
};

}  // namespace fracture
