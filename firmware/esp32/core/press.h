// The press path: debounce → round state machine → bounded queue of buzzes awaiting their PUBACK.
//
// Theory of operation. The ISR captures the microsecond time of every button edge; nothing else happens there.
// Button turns edges into at most one press per physical push (a press is accepted only after the button was
// seen released and quiet for debounce_us; bounces on push and release are dropped). The press time is the FIRST
// edge's ISR time, never the time the main loop got round to it.
//
// The round state machine decides whether a press becomes a buzz. The device never rules false starts itself: a
// press before the device has seen "arm" may still be after the hub armed (the arm message is in flight), so it
// is sent once ("early") and the hub, which knows its arm time and this device's clock model, decides. After that
// the device sends nothing more until the next arm/reset, so there is one buzz per arm. All transitions are in
// one table, kTransitions in press.cpp.
//
// BuzzQueue keeps every buzz until the transport reports its QoS 1 PUBACK: a press made offline, or one whose
// publish was cut by a drop, is (re)sent on reconnect with its ORIGINAL seq and t_us (seq+boot make it idempotent
// at the hub). It is bounded; when full, the newest press is refused, since the earliest presses are the ones that
// decide a round.
#pragma once

#include <cstddef>
#include <cstdint>

#include "codec.h"

namespace quizhub {

class Button {
 public:
  explicit Button(int64_t debounce_us = 30000) : debounce_us_(debounce_us) {}
  /// One edge from the ISR. Returns true if this edge is an accepted press (its t_us is the press time).
  bool edge(bool down, int64_t t_us);
  /// A press with no electrical edges (host twin, tests): a down edge at t_us, then an up edge debounce later.
  bool tap(int64_t t_us);
  bool is_down() const { return down_; }

 private:
  int64_t debounce_us_;
  bool down_ = false;
  bool seen_ = false;
  int64_t last_change_us_ = 0;  // time of the last accepted transition
};

enum class RoundState : uint8_t {
  Idle,     // no round armed (or unpaired)
  Early,    // pressed before this device saw "arm": sent once, the hub rules it (false start or valid)
  Armed,    // armed: the next press is sent
  Pressed,  // this arm's press was sent; further presses ignored until the next arm/reset
  Locked,   // someone else won / the host locked the buzzers
  Won,      // this device won
};
const char* round_state_name(RoundState s);

enum class RoundInput : uint8_t { Press, Arm, Lock, Win, Reset };
const char* round_input_name(RoundInput i);

struct Transition {
  RoundState next;
  bool send_buzz;  // only meaningful for Press
};

/// The whole table: (state, input) → (next, send?). Exposed for tests and for the README's diagram.
Transition round_transition(RoundState s, RoundInput in);

class RoundMachine {
 public:
  RoundState state() const { return state_; }
  /// Applies one input; returns the transition taken.
  Transition apply(RoundInput in) {
    const Transition t = round_transition(state_, in);
    state_ = t.next;
    return t;
  }

 private:
  RoundState state_ = RoundState::Idle;
};

class BuzzQueue {
 public:
  static constexpr size_t kCapacity = 8;
  struct Entry {
    BuzzMsg msg;
    int msg_id = -1;  // transport message id while in flight, -1 = not (or no longer) sent
  };
  /// False when full (the press is refused).
  bool push(const BuzzMsg& m);
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ == kCapacity; }
  /// i-th oldest entry, i < size().
  Entry& at(size_t i) { return ring_[(head_ + i) % kCapacity]; }
  const Entry& at(size_t i) const { return ring_[(head_ + i) % kCapacity]; }
  /// The transport lost its connection: nothing is in flight any more.
  void mark_all_unsent();
  /// PUBACK for msg_id: removes that entry (wherever it is). Returns true and the entry if found.
  bool ack(int msg_id, BuzzMsg* acked = nullptr);

 private:
  Entry ring_[kCapacity];
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace quizhub
