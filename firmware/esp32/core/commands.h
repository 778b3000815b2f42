// What the buzzer shows and plays. The core decides the pattern; the shell renders it. Rendering is here too
// (led_frame, piezo_tones) so the ESP32 and the host twin show exactly the same thing and tests can check it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "codec.h"
#include "press.h"

namespace quizhub {

enum class LedPattern : uint8_t {
  Off,
  Offline,   // slow amber blink: no broker connection (presses are still queued)
  Unpaired,  // slow blue breathe: connected, waiting for a "config" from the host console
  Idle,      // team colour, dim
  Early,     // team colour, double flash: pressed before arm, the hub decides
  Armed,     // team colour, full
  Pressed,   // team colour, fast blink: buzz sent, waiting for the ruling
  Locked,    // dim red: another team has it
  Won,       // team colour / white strobe
  Identify,  // white blink, a few seconds, on the host's "identify"
};
const char* led_pattern_name(LedPattern p);

struct LedCommand {
  LedPattern pattern = LedPattern::Off;
  Rgb color;  // the team colour (patterns with a fixed colour ignore it)
  bool operator==(const LedCommand& o) const { return pattern == o.pattern && color == o.color; }
  bool operator!=(const LedCommand& o) const { return !(*this == o); }
};

enum class PiezoPattern : uint8_t { None, Arm, Press, Win, Lock, Identify };
const char* piezo_pattern_name(PiezoPattern p);

struct Tone {
  uint16_t hz;  // 0 = silence
  uint16_t ms;
};

/// The tone sequence of a pattern (static storage); n receives its length.
const Tone* piezo_tones(PiezoPattern p, size_t& n);

/// The LED colour `elapsed_us` after the pattern started.
Rgb led_frame(const LedCommand& cmd, int64_t elapsed_us);

/// The LED for the device's situation. identify overrides everything, then connectivity, then pairing.
LedCommand led_for(RoundState s, bool online, bool paired, bool identify, Rgb team);

/// The sound for entering state `to` from `from` (None when nothing changes).
PiezoPattern piezo_for(RoundState from, RoundState to);

}  // namespace quizhub
