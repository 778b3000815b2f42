// Debounce, the round transition table, and the bounded buzz queue.
#include <doctest/doctest.h>

#include <vector>

#include "press.h"
#include "seed.h"

using namespace quizhub;

TEST_CASE("button: the press time is the first edge; bounces on push and release are dropped") {
  Button b(30000);
  CHECK(b.edge(true, 1000000));           // press at 1.000000 s
  CHECK_FALSE(b.edge(false, 1000400));    // push bounce
  CHECK_FALSE(b.edge(true, 1000800));
  CHECK_FALSE(b.edge(false, 1250000) );   // real release (returns false: releases are never presses)
  CHECK_FALSE(b.is_down());
  CHECK_FALSE(b.edge(true, 1250300));     // release bounce
  CHECK_FALSE(b.edge(false, 1250600));
  CHECK(b.edge(true, 1500000));           // next real press
}

TEST_CASE("button: a tap shorter than the debounce window does not swallow the next press") {
  Button b(30000);
  CHECK(b.edge(true, 0));
  CHECK_FALSE(b.edge(false, 10000));  // inside the window: treated as bounce, button still 'down'
  CHECK(b.is_down());
  CHECK(b.edge(true, 500000));        // a later push is a new press all the same
}

TEST_CASE("button: edges out of order are ignored, taps need a quiet gap") {
  Button b(30000);
  CHECK(b.tap(1000000));
  CHECK_FALSE(b.tap(900000));
  CHECK_FALSE(b.tap(1040000));  // within debounce of the synthetic release at 1.03 s
  CHECK(b.tap(1060000));
}

TEST_CASE("round table: hub inputs are obeyed in every state; a press is sent only from idle and armed") {
  const RoundState all[] = {RoundState::Idle, RoundState::Early, RoundState::Armed,
                            RoundState::Pressed, RoundState::Locked, RoundState::Won};
  for (RoundState s : all) {
    CAPTURE(round_state_name(s));
    CHECK(round_transition(s, RoundInput::Arm).next == RoundState::Armed);
    CHECK(round_transition(s, RoundInput::Lock).next == RoundState::Locked);
    CHECK(round_transition(s, RoundInput::Win).next == RoundState::Won);
    CHECK(round_transition(s, RoundInput::Reset).next == RoundState::Idle);
    for (RoundInput in : {RoundInput::Arm, RoundInput::Lock, RoundInput::Win, RoundInput::Reset}) {
      CHECK_FALSE(round_transition(s, in).send_buzz);
    }
    const Transition p = round_transition(s, RoundInput::Press);
    CHECK(p.send_buzz == (s == RoundState::Idle || s == RoundState::Armed));
  }
  CHECK(round_transition(RoundState::Idle, RoundInput::Press).next == RoundState::Early);
  CHECK(round_transition(RoundState::Armed, RoundInput::Press).next == RoundState::Pressed);
  CHECK(round_transition(RoundState::Locked, RoundInput::Press).next == RoundState::Locked);
  CHECK(round_transition(RoundState::Won, RoundInput::Press).next == RoundState::Won);
}

TEST_CASE("property: at most one buzz between two hub inputs (one buzz per arm)") {
  Rng rng(test_seed());
  CAPTURE(test_seed());
  const RoundInput inputs[] = {RoundInput::Press, RoundInput::Press, RoundInput::Press, RoundInput::Arm,
                               RoundInput::Lock,  RoundInput::Win,   RoundInput::Reset};
  RoundMachine m;
  int since_hub = 0;
  int armed_sends = 0, arms = 0;
  for (int i = 0; i < iterations(100000); ++i) {
    const RoundInput in = rng.pick(inputs, 7);
    const RoundState before = m.state();
    const Transition t = m.apply(in);
    if (in == RoundInput::Press) {
      if (t.send_buzz) ++since_hub;
      REQUIRE(since_hub <= 1);
      if (t.send_buzz && before == RoundState::Armed) ++armed_sends;
    } else {
      since_hub = 0;
      if (in == RoundInput::Arm) ++arms;
    }
    REQUIRE(m.state() == t.next);
  }
  CHECK(armed_sends <= arms);
  CHECK(armed_sends > 0);
}

TEST_CASE("buzz queue: bounded, FIFO, acks by message id anywhere, unsent after a drop") {
  BuzzQueue q;
  for (uint32_t i = 1; i <= BuzzQueue::kCapacity; ++i) CHECK(q.push(BuzzMsg{i, 1, 100 * i}));
  CHECK(q.full());
  CHECK_FALSE(q.push(BuzzMsg{99, 1, 0}));  // the newest is refused, the earliest kept
  for (size_t i = 0; i < q.size(); ++i) q.at(i).msg_id = static_cast<int>(10 + i);
  BuzzMsg acked;
  CHECK(q.ack(12, &acked));
  CHECK(acked.seq == 3);
  CHECK_FALSE(q.ack(12));
  CHECK_FALSE(q.ack(-1));
  CHECK(q.size() == BuzzQueue::kCapacity - 1);
  std::vector<uint32_t> order;
  for (size_t i = 0; i < q.size(); ++i) order.push_back(q.at(i).msg.seq);
  CHECK(order == std::vector<uint32_t>{1, 2, 4, 5, 6, 7, 8});
  q.mark_all_unsent();
  for (size_t i = 0; i < q.size(); ++i) CHECK(q.at(i).msg_id == -1);
  CHECK(q.push(BuzzMsg{9, 1, 900}));
  CHECK(q.at(q.size() - 1).msg.seq == 9);
}

TEST_CASE("property: the queue behaves like a bounded FIFO model under random push/ack") {
  Rng rng(test_seed() + 7);
  BuzzQueue q;
  std::vector<std::pair<uint32_t, int>> model;  // (seq, msg id)
  uint32_t seq = 0;
  int next_id = 1;
  for (int i = 0; i < iterations(50000); ++i) {
    switch (rng.range(0, 3)) {
      case 0: {
        const bool pushed = q.push(BuzzMsg{++seq, 1, seq});
        REQUIRE(pushed == (model.size() < BuzzQueue::kCapacity));
        if (pushed) model.emplace_back(seq, -1);
        break;
      }
      case 1:  // "send" the oldest unsent
        for (size_t k = 0; k < q.size(); ++k) {
          if (q.at(k).msg_id < 0) {
            q.at(k).msg_id = next_id;
            model[k].second = next_id++;
            break;
          }
        }
        break;
      case 2: {
        if (model.empty()) break;
        const size_t k = static_cast<size_t>(rng.range(0, static_cast<int64_t>(model.size()) - 1));
        const int id = model[k].second;
        const bool found = q.ack(id);
        REQUIRE(found == (id >= 0));
        if (found) model.erase(model.begin() + static_cast<std::ptrdiff_t>(k));
        break;
      }
      default:
        q.mark_all_unsent();
        for (auto& e : model) e.second = -1;
    }
    REQUIRE(q.size() == model.size());
    for (size_t k = 0; k < model.size(); ++k) {
      REQUIRE(q.at(k).msg.seq == model[k].first);
      REQUIRE(q.at(k).msg_id == model[k].second);
    }
  }
}
