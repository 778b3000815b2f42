#include "backoff.h"

namespace quizhub {

uint32_t Backoff::step_ms(uint32_t k) const {
  uint64_t d = base_ms_;
  for (uint32_t i = 0; i < k && d < cap_ms_; ++i) d *= 2u;  // stops doubling at cap: no overflow
  return d > cap_ms_ ? cap_ms_ : static_cast<uint32_t>(d);
}

uint32_t Backoff::next_delay_ms() {
  const uint32_t d = step_ms(attempt_);
  if (attempt_ < 64u) ++attempt_;
  const uint32_t half = d / 2u;
  const uint32_t span = d - half;  // d/2 rounded up, so the result never exceeds d
  const uint32_t jitter = span == 0u ? 0u : rng_.next_u32() % (span + 1u);
  return half + jitter;
}

}  // namespace quizhub
