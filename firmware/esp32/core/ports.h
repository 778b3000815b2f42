// The two things the core needs from the platform and takes as injected interfaces, so tests can script them:
// a monotonic microsecond clock (read only to stamp t3 of a sync reply at the moment it is sent) and a random
// source (reconnect jitter). Every other time enters the core as an argument of an input.
#pragma once

#include <cstdint>

namespace quizhub {

class Clock {
 public:
  virtual ~Clock() = default;
  /// The device's monotonic clock in µs: esp_timer_get_time() on the ESP32, CLOCK_MONOTONIC with a configured
  /// offset and drift in the host twin, a settable value in tests. Same clock as every t_us the core is given.
  virtual int64_t now_us() = 0;
};

class Random {
 public:
  virtual ~Random() = default;
  virtual uint32_t next_u32() = 0;
};

/// A small deterministic generator (xorshift32) for tests and as a fallback; seed 0 is mapped to a fixed value.
class XorShift32 final : public Random {
 public:
  explicit XorShift32(uint32_t seed) : s_(seed != 0u ? seed : 0x9E3779B9u) {}
  uint32_t next_u32() override {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 17;
    s_ ^= s_ << 5;
    return s_;
  }

 private:
  uint32_t s_;
};

}  // namespace quizhub
