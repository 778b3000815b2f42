#include "press.h"

namespace quizhub {

bool Button::edge(bool down, int64_t t_us) {
  // Anything within debounce_us of the last accepted transition is contact bounce. A negative difference (edges
  // reported out of order) is treated the same way: ignoring is the safe choice.
  const bool quiet = !seen_ || (t_us - last_change_us_) >= debounce_us_;
  if (down) {
    // A down edge while we believe the button is down means its release was lost inside a bounce window (a tap
    // shorter than debounce_us); after a quiet period it is a genuine new press.
    if (!quiet) return false;
    down_ = true;
    seen_ = true;
    last_change_us_ = t_us;
    return true;
  }
  if (!down_ || !quiet) return false;
  down_ = false;
  last_change_us_ = t_us;
  return false;
}

bool Button::tap(int64_t t_us) {
  const bool pressed = edge(true, t_us);
  if (pressed) edge(false, t_us + debounce_us_);
  return pressed;
}

const char* round_state_name(RoundState s) {
  switch (s) {
    case RoundState::Idle: return "idle";
    case RoundState::Early: return "early";
    case RoundState::Armed: return "armed";
    case RoundState::Pressed: return "pressed";
    case RoundState::Locked: return "locked";
    case RoundState::Won: return "won";
  }
  return "?";
}

const char* round_input_name(RoundInput i) {
  switch (i) {
    case RoundInput::Press: return "press";
    case RoundInput::Arm: return "arm";
    case RoundInput::Lock: return "lock";
    case RoundInput::Win: return "win";
    case RoundInput::Reset: return "reset";
  }
  return "?";
}

namespace {

using S = RoundState;
constexpr bool kSend = true;
constexpr bool kDrop = false;

// Rule 1: every transition of the round, and nothing else. Rows: state; columns: Press, Arm, Lock, Win, Reset.
// Arm, Lock, Win and Reset come from the hub and are obeyed in every state (the hub is the only judge; an arm
// after Pressed is a new question or a re-open after a wrong answer). Only Press depends on the state.
constexpr Transition kTransitions[6][5] = {
    /* Idle    */ {{S::Early, kSend}, {S::Armed, kDrop}, {S::Locked, kDrop}, {S::Won, kDrop}, {S::Idle, kDrop}},
    /* Early   */ {{S::Early, kDrop}, {S::Armed, kDrop}, {S::Locked, kDrop}, {S::Won, kDrop}, {S::Idle, kDrop}},
    /* Armed   */ {{S::Pressed, kSend}, {S::Armed, kDrop}, {S::Locked, kDrop}, {S::Won, kDrop}, {S::Idle, kDrop}},
    /* Pressed */ {{S::Pressed, kDrop}, {S::Armed, kDrop}, {S::Locked, kDrop}, {S::Won, kDrop}, {S::Idle, kDrop}},
    /* Locked  */ {{S::Locked, kDrop}, {S::Armed, kDrop}, {S::Locked, kDrop}, {S::Won, kDrop}, {S::Idle, kDrop}},
    /* Won     */ {{S::Won, kDrop}, {S::Armed, kDrop}, {S::Locked, kDrop}, {S::Won, kDrop}, {S::Idle, kDrop}},
};

}  // namespace

Transition round_transition(RoundState s, RoundInput in) {
  return kTransitions[static_cast<size_t>(s)][static_cast<size_t>(in)];
}

bool BuzzQueue::push(const BuzzMsg& m) {
  if (full()) return false;
  ring_[(head_ + count_) % kCapacity] = Entry{m, -1};
  ++count_;
  return true;
}

void BuzzQueue::mark_all_unsent() {
  for (size_t i = 0; i < count_; ++i) at(i).msg_id = -1;
}

bool BuzzQueue::ack(int msg_id, BuzzMsg* acked) {
  if (msg_id < 0) return false;
  for (size_t i = 0; i < count_; ++i) {
    if (at(i).msg_id != msg_id) continue;
    if (acked != nullptr) *acked = at(i).msg;
    // Close the gap, keeping order (at most kCapacity moves).
    for (size_t j = i; j + 1 < count_; ++j) at(j) = at(j + 1);
    --count_;
    if (count_ == 0) head_ = 0;
    return true;
  }
  return false;
}

}  // namespace quizhub
