// Seeded randomness for the property checks: QUIZHUB_SEED=<n> replays a run; the seed is printed on failure.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

inline uint32_t test_seed() {
  const char* s = std::getenv("QUIZHUB_SEED");
  return s != nullptr ? static_cast<uint32_t>(std::strtoul(s, nullptr, 10)) : 20261122u;
}

/// Iterations for property loops; QUIZHUB_PROPERTY_SCALE multiplies them (CI uses the default).
inline int iterations(int base) {
  const char* s = std::getenv("QUIZHUB_PROPERTY_SCALE");
  const int k = s != nullptr ? std::atoi(s) : 1;
  return base * (k > 0 ? k : 1);
}

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint32_t seed) : g(seed) {}
  int64_t range(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(g); }
  bool coin(int pct = 50) { return range(0, 99) < pct; }
  template <class T>
  const T& pick(const T* items, size_t n) { return items[static_cast<size_t>(range(0, static_cast<int64_t>(n) - 1))]; }
};
