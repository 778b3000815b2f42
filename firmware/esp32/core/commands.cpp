#include "commands.h"

namespace quizhub {

const char* led_pattern_name(LedPattern p) {
  switch (p) {
    case LedPattern::Off: return "off";
    case LedPattern::Offline: return "offline";
    case LedPattern::Unpaired: return "unpaired";
    case LedPattern::Idle: return "idle";
    case LedPattern::Early: return "early";
    case LedPattern::Armed: return "armed";
    case LedPattern::Pressed: return "pressed";
    case LedPattern::Locked: return "locked";
    case LedPattern::Won: return "won";
    case LedPattern::Identify: return "identify";
  }
  return "?";
}

const char* piezo_pattern_name(PiezoPattern p) {
  switch (p) {
    case PiezoPattern::None: return "none";
    case PiezoPattern::Arm: return "arm";
    case PiezoPattern::Press: return "press";
    case PiezoPattern::Win: return "win";
    case PiezoPattern::Lock: return "lock";
    case PiezoPattern::Identify: return "identify";
  }
  return "?";
}

const Tone* piezo_tones(PiezoPattern p, size_t& n) {
  static const Tone kArm[] = {{1800, 60}};
  static const Tone kPress[] = {{2600, 25}};
  static const Tone kWin[] = {{1047, 120}, {0, 30}, {1319, 120}, {0, 30}, {1568, 250}};
  static const Tone kLock[] = {{300, 150}};
  static const Tone kIdentify[] = {{2000, 80}, {0, 80}, {2000, 80}, {0, 80}, {2000, 80}};
  switch (p) {
    case PiezoPattern::Arm: n = sizeof kArm / sizeof kArm[0]; return kArm;
    case PiezoPattern::Press: n = sizeof kPress / sizeof kPress[0]; return kPress;
    case PiezoPattern::Win: n = sizeof kWin / sizeof kWin[0]; return kWin;
    case PiezoPattern::Lock: n = sizeof kLock / sizeof kLock[0]; return kLock;
    case PiezoPattern::Identify: n = sizeof kIdentify / sizeof kIdentify[0]; return kIdentify;
    case PiezoPattern::None: break;
  }
  n = 0;
  return nullptr;
}

namespace {

Rgb scale(Rgb c, unsigned num, unsigned den) {
  return Rgb{static_cast<uint8_t>(c.r * num / den), static_cast<uint8_t>(c.g * num / den),
             static_cast<uint8_t>(c.b * num / den)};
}

bool on_phase(int64_t elapsed_us, int64_t period_us, int64_t on_us) {
  if (elapsed_us < 0) elapsed_us = 0;
  return (elapsed_us % period_us) < on_us;
}

}  // namespace

Rgb led_frame(const LedCommand& cmd, int64_t elapsed_us) {
  constexpr Rgb kBlack{0, 0, 0};
  constexpr Rgb kWhite{255, 255, 255};
  switch (cmd.pattern) {
    case LedPattern::Off: return kBlack;
    case LedPattern::Offline: return on_phase(elapsed_us, 2000000, 200000) ? Rgb{255, 120, 0} : kBlack;
    case LedPattern::Unpaired: {
      // Triangle breathe over 3 s.
      const int64_t ph = (elapsed_us < 0 ? 0 : elapsed_us) % 3000000;
      const int64_t lvl = ph < 1500000 ? ph : 3000000 - ph;  // 0..1.5e6
      return scale(Rgb{0, 60, 255}, static_cast<unsigned>(lvl / 6000), 250u);
    }
    case LedPattern::Idle: return scale(cmd.color, 1, 8);
    case LedPattern::Early: {
      const int64_t ph = (elapsed_us < 0 ? 0 : elapsed_us) % 1000000;
      const bool on = ph < 80000 || (ph >= 160000 && ph < 240000);
      return on ? cmd.color : scale(cmd.color, 1, 8);
    }
    case LedPattern::Armed: return cmd.color;
    case LedPattern::Pressed: return on_phase(elapsed_us, 200000, 100000) ? cmd.color : kBlack;
    case LedPattern::Locked: return Rgb{40, 0, 0};
    case LedPattern::Won: return on_phase(elapsed_us, 120000, 60000) ? kWhite : cmd.color;
    case LedPattern::Identify: return on_phase(elapsed_us, 300000, 150000) ? kWhite : kBlack;
  }
  return kBlack;
}

LedCommand led_for(RoundState s, bool online, bool paired, bool identify, Rgb team) {
  if (identify) return LedCommand{LedPattern::Identify, team};
  if (!online) return LedCommand{LedPattern::Offline, team};
  if (!paired) return LedCommand{LedPattern::Unpaired, team};
  switch (s) {
    case RoundState::Idle: return LedCommand{LedPattern::Idle, team};
    case RoundState::Early: return LedCommand{LedPattern::Early, team};
    case RoundState::Armed: return LedCommand{LedPattern::Armed, team};
    case RoundState::Pressed: return LedCommand{LedPattern::Pressed, team};
    case RoundState::Locked: return LedCommand{LedPattern::Locked, team};
    case RoundState::Won: return LedCommand{LedPattern::Won, team};
  }
  return LedCommand{LedPattern::Off, team};
}

PiezoPattern piezo_for(RoundState from, RoundState to) {
  if (from == to) return PiezoPattern::None;
  switch (to) {
    case RoundState::Armed: return PiezoPattern::Arm;
    case RoundState::Pressed:
    case RoundState::Early: return PiezoPattern::Press;
    case RoundState::Won: return PiezoPattern::Win;
    case RoundState::Locked: return PiezoPattern::Lock;
    case RoundState::Idle: return PiezoPattern::None;
  }
  return PiezoPattern::None;
}

}  // namespace quizhub
