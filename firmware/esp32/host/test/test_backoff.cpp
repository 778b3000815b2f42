// Reconnect backoff: bounds, growth, cap, reset, and that the jitter really spreads.
#include <doctest/doctest.h>

#include <set>

#include "backoff.h"
#include "seed.h"

using namespace quizhub;

namespace {
class FixedRandom final : public Random {
 public:
  explicit FixedRandom(uint32_t v) : v_(v) {}
  uint32_t next_u32() override { return v_; }

 private:
  uint32_t v_;
};
}  // namespace

TEST_CASE("backoff doubles from base to cap, with the delay in [step/2, step]") {
  XorShift32 rng(test_seed());
  Backoff b(500, 30000, rng);
  const uint32_t steps[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
  for (uint32_t step : steps) {
    CAPTURE(step);
    const uint32_t d = b.next_delay_ms();
    CHECK(d >= step / 2);
    CHECK(d <= step);
  }
  b.reset();
  CHECK(b.attempts() == 0);
  CHECK(b.next_delay_ms() <= 500);
}

TEST_CASE("backoff extremes of the random source hit both ends of the window") {
  FixedRandom lo(0), hi(UINT32_MAX);
  Backoff a(1000, 8000, lo), z(1000, 8000, hi);
  CHECK(a.next_delay_ms() == 500);
  // UINT32_MAX % 501 decides the top end; it must stay within the step.
  CHECK(z.next_delay_ms() <= 1000);
  for (int i = 0; i < 100; ++i) CHECK(z.next_delay_ms() <= 8000);  // no overflow after many attempts
  CHECK(z.step_ms(1000) == 8000);
}

TEST_CASE("property: jitter spreads a herd of buzzers over the window") {
  std::set<uint32_t> first_delays;
  for (uint32_t dev = 1; dev <= 64; ++dev) {
    XorShift32 rng(test_seed() * 31u + dev);
    Backoff b(2000, 30000, rng);
    first_delays.insert(b.next_delay_ms());
  }
  CHECK(first_delays.size() > 40);  // 64 devices, 1001 possible values
  CHECK(*first_delays.begin() >= 1000);
  CHECK(*first_delays.rbegin() <= 2000);
}
