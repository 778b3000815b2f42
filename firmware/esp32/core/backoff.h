// Reconnect backoff: exponential with "equal jitter", the random source injected.
//
// Attempt k (from 0) waits d/2 + uniform[0, d/2] with d = min(cap, base·2^k): never less than half the
// exponential step (no thundering herd of buzzers hammering a broker that just restarted) and never more than cap.
// A whole box of buzzers that lost Wi-Fi together therefore spreads its reconnects over the window.
#pragma once

#include <cstdint>

#include "ports.h"

namespace quizhub {

class Backoff {
 public:
  Backoff(uint32_t base_ms, uint32_t cap_ms, Random& rng) : base_ms_(base_ms), cap_ms_(cap_ms), rng_(rng) {}
  /// The delay before the next attempt; each call counts one more failed attempt.
  uint32_t next_delay_ms();
  /// A connection succeeded: the next failure starts again from base.
  void reset() { attempt_ = 0; }
  uint32_t attempts() const { return attempt_; }
  /// Upper bound of the step for attempt k (no jitter), for tests and docs.
  uint32_t step_ms(uint32_t k) const;

 private:
  uint32_t base_ms_;
  uint32_t cap_ms_;
  Random& rng_;
  uint32_t attempt_ = 0;
};

}  // namespace quizhub
