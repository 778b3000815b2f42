// The Device object driven through scripted sequences with a fake transport, plus a random event storm with
// invariants. No sockets, no sleeps: time is a number the test sets.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "device.h"
#include "seed.h"

using namespace quizhub;

namespace {

struct Pub {
  std::string topic, payload;
  int qos;
  bool retain;
  int id;
};

class FakeClock final : public Clock {
 public:
  int64_t t = 0;
  int64_t now_us() override { return t; }
};

class FakeFx final : public Effects {
 public:
  int connects = 0;
  bool accept_publish = true;
  int next_id = 1;
  std::vector<Pub> pubs;
  std::vector<std::string> subs, unsubs;
  std::vector<LedCommand> leds;
  std::vector<PiezoPattern> piezos;
  std::vector<std::string> states;
  std::vector<std::pair<int64_t, IgnoredWhy>> ignored;
  std::vector<std::pair<TopicKind, CodecError>> rejected;
  std::vector<HubErrorMsg> hub_errors;
  std::vector<BuzzMsg> queued, acked;
  std::vector<Pairing> saved;

  void connect() override { ++connects; }
  int publish(const char* topic, const char* payload, size_t len, int qos, bool retain) override {
    const int id = accept_publish ? next_id++ : -1;
    pubs.push_back(Pub{topic, std::string(payload, len), qos, retain, id});
    return id;
  }
  void subscribe(const char* topic, int) override { subs.emplace_back(topic); }
  void unsubscribe(const char* topic) override { unsubs.emplace_back(topic); }
  void led(const LedCommand& c) override { leds.push_back(c); }
  void piezo(PiezoPattern p) override { piezos.push_back(p); }
  void save_pairing(const Pairing& p) override { saved.push_back(p); }
  void on_state(RoundState, RoundState to, RoundInput, const CmdMsg*) override { states.emplace_back(round_state_name(to)); }
  void on_press_ignored(int64_t t, IgnoredWhy w) override { ignored.emplace_back(t, w); }
  void on_buzz_queued(const BuzzMsg& b) override { queued.push_back(b); }
  void on_buzz_acked(const BuzzMsg& b) override { acked.push_back(b); }
  void on_rejected(TopicKind k, CodecError e) override { rejected.emplace_back(k, e); }
  void on_hub_error(const HubErrorMsg& e) override { hub_errors.push_back(e); }

  std::vector<Pub> on(const std::string& topic) const {
    std::vector<Pub> out;
    for (const Pub& p : pubs) {
      if (p.topic == topic) out.push_back(p);
    }
    return out;
  }
  std::vector<BuzzMsg> buzzes(const std::string& topic = "qz/devices/dev1/buzz") const {
    std::vector<BuzzMsg> out;
    for (const Pub& p : on(topic)) {
      BuzzMsg b;
      REQUIRE(decode_buzz(p.payload.data(), p.payload.size(), b) == CodecError::Ok);
      out.push_back(b);
    }
    return out;
  }
};

struct Rig {
  FakeClock clock;
  FakeFx fx;
  XorShift32 rng{42};
  DeviceConfig cfg;
  Device dev;
  explicit Rig(uint32_t boot = 3, const Pairing* restored = nullptr)
      : cfg(make_cfg(boot)), dev(cfg, fx, clock, rng, restored) {}
  static DeviceConfig make_cfg(uint32_t boot) {
    DeviceConfig c;
    c.root = "qz";
    c.device_id = "dev1";
    c.fw = "1.0.0";
    c.boot = boot;
    return c;
  }
  void msg(const std::string& topic, const std::string& payload, int64_t t_rx) {
    dev.message(topic.c_str(), payload.data(), payload.size(), t_rx);
  }
  void online() {
    dev.start(0);
    dev.connected(0);
  }
  void pair(const char* game = "g1") {
    msg("qz/devices/dev1/cmd", std::string(R"({"cmd":"config","game":")") + game + R"(","team":"t3","color":"#e33"})", 1);
  }
};

}  // namespace

TEST_CASE("start connects; connected publishes retained status, subscribes, shows unpaired") {
  Rig r;
  REQUIRE(r.dev.valid());
  r.dev.set_telemetry(true, -61, true, 3870);
  r.dev.start(0);
  CHECK(r.fx.connects == 1);
  CHECK(r.fx.leds.back().pattern == LedPattern::Offline);
  r.dev.connected(10);
  const auto st = r.fx.on("qz/devices/dev1/status");
  REQUIRE(st.size() == 1);
  CHECK(st[0].retain);
  CHECK(st[0].qos == 1);
  CHECK(st[0].payload == R"({"state":"online","fw":"1.0.0","rssi":-61,"battery_mv":3870,"boot":3})");
  CHECK(r.fx.subs == std::vector<std::string>{"qz/devices/dev1/cmd", "qz/devices/dev1/sync", "qz/devices/dev1/error"});
  CHECK(r.fx.leds.back().pattern == LedPattern::Unpaired);
  char will[32];
  REQUIRE(r.dev.will_payload(will, sizeof will) > 0);
  CHECK(std::string(will) == R"({"state":"offline"})");
  CHECK(std::string(r.dev.will_topic()) == "qz/devices/dev1/status");
}

TEST_CASE("invalid ids or roots make an inert device") {
  FakeClock c;
  FakeFx fx;
  XorShift32 rng(1);
  for (const char* bad_id : {"", "a/b", "#", "dev 1"}) {
    DeviceConfig cfg;
    cfg.device_id = bad_id;
    Device d(cfg, fx, c, rng);
    CHECK_FALSE(d.valid());
    d.start(0);
  }
  for (const char* bad_root : {"", "/qz", "qz/", "a//b", "q+"}) {
    DeviceConfig cfg;
    cfg.root = bad_root;
    cfg.device_id = "d";
    Device d(cfg, fx, c, rng);
    CHECK_FALSE(d.valid());
  }
  CHECK(fx.connects == 0);
  DeviceConfig ok;
  ok.root = "venue/quizhub";
  ok.device_id = "d";
  CHECK(Device(ok, fx, c, rng).valid());
}

TEST_CASE("config subscribes to the game's buzzers, persists, and a new game moves the subscription") {
  Rig r;
  r.online();
  r.pair("g1");
  CHECK(r.fx.subs.back() == "qz/games/g1/buzzers");
  REQUIRE(r.fx.saved.size() == 1);
  CHECK(std::string(r.fx.saved[0].game) == "g1");
  CHECK(r.fx.saved[0].color == Rgb{0xee, 0x33, 0x33});
  CHECK(r.fx.leds.back().pattern == LedPattern::Idle);
  CHECK(r.fx.leds.back().color == Rgb{0xee, 0x33, 0x33});
  const size_t nsubs = r.fx.subs.size();
  r.pair("g1");  // same game: no churn
  CHECK(r.fx.subs.size() == nsubs);
  CHECK(r.fx.unsubs.empty());
  r.pair("g2");
  CHECK(r.fx.unsubs == std::vector<std::string>{"qz/games/g1/buzzers"});
  CHECK(r.fx.subs.back() == "qz/games/g2/buzzers");
  // Old game's broadcasts are no longer ours.
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm","q":1})", 5);
  CHECK(r.dev.round_state() == RoundState::Idle);
  CHECK(r.fx.rejected.back().first == TopicKind::Unknown);
  // A reconnect re-subscribes to the current game.
  r.dev.disconnected(100);
  r.dev.connected(200);
  CHECK(r.fx.subs.back() == "qz/games/g2/buzzers");
}

TEST_CASE("a restored pairing subscribes on the first connect") {
  Pairing p;
  p.paired = true;
  std::strcpy(p.game, "g9");
  Rig r(1, &p);
  r.online();
  CHECK(std::find(r.fx.subs.begin(), r.fx.subs.end(), "qz/games/g9/buzzers") != r.fx.subs.end());
  CHECK(r.fx.leds.back().pattern == LedPattern::Idle);
}

TEST_CASE("arm → press sends one QoS 1 buzz with seq, boot and the ISR time; lock/win follow the winner") {
  Rig r(7);
  r.online();
  r.pair();
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm","q":1})", 1000);
  CHECK(r.dev.round_state() == RoundState::Armed);
  CHECK(r.fx.piezos.back() == PiezoPattern::Arm);
  r.dev.button_edge(true, 5000123);
  r.dev.button_edge(false, 5000300);  // bounce
  r.dev.button_edge(true, 5000500);   // bounce
  auto b = r.fx.buzzes();
  REQUIRE(b.size() == 1);
  CHECK(b[0] == BuzzMsg{1, 7, 5000123});
  CHECK(r.fx.on("qz/devices/dev1/buzz")[0].qos == 1);
  CHECK_FALSE(r.fx.on("qz/devices/dev1/buzz")[0].retain);
  CHECK(r.dev.round_state() == RoundState::Pressed);
  r.dev.button_edge(false, 5200000);
  r.dev.button_edge(true, 5400000);  // a real second press, same arm: not sent
  CHECK(r.fx.buzzes().size() == 1);
  CHECK(r.fx.ignored.back().second == IgnoredWhy::State);

  r.msg("qz/games/g1/buzzers", R"({"cmd":"lock","q":1,"winner":"dev1"})", 6000000);
  CHECK(r.dev.round_state() == RoundState::Won);
  CHECK(r.fx.piezos.back() == PiezoPattern::Win);
  CHECK(r.fx.leds.back().pattern == LedPattern::Won);

  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm","q":2})", 7000000);
  r.dev.press(7100000);
  CHECK(r.fx.buzzes().back() == BuzzMsg{2, 7, 7100000});
  r.msg("qz/games/g1/buzzers", R"({"cmd":"lock","q":2,"winner":"dev2"})", 7200000);
  CHECK(r.dev.round_state() == RoundState::Locked);
  CHECK(r.fx.leds.back().pattern == LedPattern::Locked);
  r.dev.press(7300000);
  CHECK(r.fx.buzzes().size() == 2);
  r.msg("qz/devices/dev1/cmd", R"({"cmd":"win"})", 7400000);
  CHECK(r.dev.round_state() == RoundState::Won);
  r.msg("qz/devices/dev1/cmd", R"({"cmd":"reset"})", 7500000);
  CHECK(r.dev.round_state() == RoundState::Idle);
}

TEST_CASE("a press before arm is sent once as early; the hub rules it") {
  Rig r;
  r.online();
  r.pair();
  r.dev.press(1000000);
  CHECK(r.dev.round_state() == RoundState::Early);
  r.dev.press(2000000);
  CHECK(r.fx.buzzes().size() == 1);
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm"})", 2100000);
  r.dev.press(2200000);
  CHECK(r.fx.buzzes().size() == 2);
  CHECK(r.fx.buzzes()[1].seq == 2);
}

TEST_CASE("sync: t2 is the receipt time, t3 the clock when the reply is handed to the transport") {
  Rig r;
  r.online();
  r.clock.t = 777777;
  r.msg("qz/devices/dev1/sync", R"({"n":42,"t1":1000000000})", 777000);
  const auto rep = r.fx.on("qz/devices/dev1/sync/reply");
  REQUIRE(rep.size() == 1);
  CHECK(rep[0].payload == R"({"n":42,"t1":1000000000,"t2":777000,"t3":777777,"boot":3})");
  CHECK(rep[0].qos == 0);
  CHECK_FALSE(rep[0].retain);
  r.msg("qz/devices/dev1/sync", R"({"n":"x","t1":1})", 1);
  CHECK(r.fx.rejected.back() == std::make_pair(TopicKind::Sync, CodecError::WrongType));
  CHECK(r.fx.on("qz/devices/dev1/sync/reply").size() == 1);
  CHECK(r.dev.rejected_count() == 1);
}

TEST_CASE("offline presses are queued and sent on reconnect with their original time; acks drain the queue") {
  Rig r;
  r.online();
  r.pair();
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm","q":5})", 10);
  r.dev.disconnected(1000000);
  CHECK(r.fx.leds.back().pattern == LedPattern::Offline);
  r.dev.press(1500000);
  CHECK(r.fx.buzzes().empty());
  REQUIRE(r.fx.queued.size() == 1);
  CHECK(r.dev.queued() == 1);
  // Backoff: nothing before the deadline, one attempt after it.
  const int64_t due = r.dev.next_deadline_us();
  CHECK(due > 1000000);
  CHECK(due <= 1000000 + 500000);
  const int before = r.fx.connects;
  r.dev.tick(due - 1);
  CHECK(r.fx.connects == before);
  r.dev.tick(due);
  CHECK(r.fx.connects == before + 1);
  r.dev.connected(due + 100);
  auto b = r.fx.buzzes();
  REQUIRE(b.size() == 1);
  CHECK(b[0] == BuzzMsg{1, 3, 1500000});
  r.dev.published(r.fx.on("qz/devices/dev1/buzz")[0].id);
  CHECK(r.dev.queued() == 0);
  REQUIRE(r.fx.acked.size() == 1);
}

TEST_CASE("a buzz cut in flight is re-sent after reconnect with the same seq (idempotent at the hub)") {
  Rig r;
  r.online();
  r.pair();
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm"})", 10);
  r.dev.press(2000000);
  r.dev.disconnected(2000100);  // no PUBACK
  const int64_t due = r.dev.next_deadline_us();
  r.dev.tick(due);
  r.dev.connected(due + 1);
  const auto b = r.fx.buzzes();
  REQUIRE(b.size() == 2);
  CHECK(b[0] == b[1]);
  // A late PUBACK for the stale id is harmless; the live one drains.
  r.dev.published(r.fx.on("qz/devices/dev1/buzz")[0].id);
  r.dev.published(r.fx.on("qz/devices/dev1/buzz")[1].id);
  CHECK(r.dev.queued() == 0);
}

TEST_CASE("failed connect attempts back off exponentially, a success resets") {
  Rig r;
  r.dev.start(0);
  int64_t now = 0;
  std::vector<int64_t> gaps;
  for (int i = 0; i < 8; ++i) {
    r.dev.disconnected(now);  // the attempt failed
    const int64_t due = r.dev.next_deadline_us();
    gaps.push_back(due - now);
    now = due;
    r.dev.tick(now);
  }
  CHECK(r.fx.connects == 9);
  CHECK(gaps[0] <= 500000);
  CHECK(gaps[7] >= 15000000);  // step 30 s capped, at least half
  r.dev.connected(now);
  r.dev.disconnected(now + 1);
  CHECK(r.dev.next_deadline_us() - (now + 1) <= 500000);
}

TEST_CASE("identify blinks for identify_us and then restores the state's pattern") {
  Rig r;
  r.online();
  r.pair();
  r.msg("qz/devices/dev1/cmd", R"({"cmd":"identify"})", 1000000);
  CHECK(r.fx.leds.back().pattern == LedPattern::Identify);
  CHECK(r.fx.piezos.back() == PiezoPattern::Identify);
  CHECK(r.dev.next_deadline_us() == 6000000);
  r.dev.tick(5999999);
  CHECK(r.fx.leds.back().pattern == LedPattern::Identify);
  r.dev.tick(6000000);
  CHECK(r.fx.leds.back().pattern == LedPattern::Idle);
}

TEST_CASE("hub errors are surfaced; bad commands are counted and change nothing") {
  Rig r;
  r.online();
  r.pair();
  r.msg("qz/devices/dev1/error", R"({"code":"bad_payload","message":"t_us missing"})", 1);
  REQUIRE(r.fx.hub_errors.size() == 1);
  CHECK(std::string(r.fx.hub_errors[0].code) == "bad_payload");
  const size_t subs = r.fx.subs.size();
  r.msg("qz/devices/dev1/cmd", R"({"cmd":"config","game":"#"})", 2);
  r.msg("qz/devices/dev1/cmd", "not json", 3);
  r.msg("qz/games/g1/buzzers", R"({"cmd":"win"})", 4);
  CHECK(r.fx.subs.size() == subs);
  CHECK(r.dev.rejected_count() == 3);
  CHECK(r.dev.round_state() == RoundState::Idle);
}

TEST_CASE("status is refreshed periodically and goodbye publishes offline") {
  Rig r;
  r.online();
  CHECK(r.dev.next_deadline_us() == 60000000);
  r.dev.tick(60000000);
  CHECK(r.fx.on("qz/devices/dev1/status").size() == 2);
  r.dev.shutdown();
  const auto st = r.fx.on("qz/devices/dev1/status");
  CHECK(st.back().payload == R"({"state":"offline"})");
  CHECK(st.back().retain);
}

namespace {
/// When the device will next try to connect (now if an attempt is already under way).
int64_t reconnect_time(const Device& d, int64_t now) {
  const int64_t due = d.next_deadline_us();
  return (due == INT64_MAX || due < now) ? now : due;
}
}  // namespace

TEST_CASE("property: under a random storm of events no press is lost, duplicated or re-timed") {
  Rng rng(test_seed() + 11);
  CAPTURE(test_seed());
  for (int run = 0; run < iterations(40); ++run) {
    Rig r(static_cast<uint32_t>(run));
    r.dev.start(0);
    int64_t now = 0;
    bool online = false;
    std::map<uint32_t, int64_t> pressed;  // seq → t_us of every press the device accepted
    std::vector<int> unacked_ids;
    for (int step = 0; step < 400; ++step) {
      now += rng.range(1, 200000);
      switch (rng.range(0, 9)) {
        case 0:
          if (!online) {
            now = reconnect_time(r.dev, now);
            r.dev.tick(now);
            r.dev.connected(now);
            online = true;
          }
          break;
        case 1:
          if (online) {
            r.dev.disconnected(now);
            online = false;
          }
          break;
        case 2:
        case 3: {
          const size_t before = r.dev.queued();
          const uint32_t seq = r.dev.next_seq();
          r.dev.press(now);
          if (r.dev.queued() > before) pressed[seq] = now;
          break;
        }
        case 4:
          r.msg("qz/devices/dev1/cmd", R"({"cmd":"arm"})", now);
          break;
        case 5:
          r.msg("qz/devices/dev1/cmd", rng.coin() ? R"({"cmd":"lock","winner":"dev1"})" : R"({"cmd":"reset"})", now);
          break;
        default:
          // The broker acks some in-flight buzzes (only while connected).
          if (online) {
            for (const Pub& p : r.fx.on("qz/devices/dev1/buzz")) {
              if (rng.coin(60)) r.dev.published(p.id);
            }
          }
      }
    }
    // Settle: reconnect and ack everything.
    if (!online) {
      now = reconnect_time(r.dev, now);
      r.dev.tick(now);
      r.dev.connected(now);
    }
    for (const Pub& p : r.fx.on("qz/devices/dev1/buzz")) r.dev.published(p.id);
    CHECK(r.dev.queued() == 0);
    // Every accepted press was published with its original time; nothing was invented.
    std::map<uint32_t, int64_t> sent;
    for (const BuzzMsg& b : r.fx.buzzes()) {
      CHECK(b.boot == static_cast<uint32_t>(run));
      const auto it = sent.find(b.seq);
      if (it != sent.end()) CHECK(it->second == b.t_us);  // a re-send carries the same time
      sent[b.seq] = b.t_us;
    }
    CHECK(sent == pressed);
    // seq is dense from 1.
    uint32_t expect = 1;
    for (const auto& kv : sent) CHECK(kv.first == expect++);
  }
}

TEST_CASE("unpair forgets the game; identify honours duration_ms") {
  Rig r;
  r.online();
  r.pair("g1");
  r.msg("qz/devices/dev1/cmd", R"({"cmd":"unpair"})", 10);
  CHECK(r.fx.unsubs == std::vector<std::string>{"qz/games/g1/buzzers"});
  CHECK_FALSE(r.dev.pairing().paired);
  CHECK_FALSE(r.fx.saved.back().paired);
  CHECK(r.fx.leds.back().pattern == LedPattern::Unpaired);
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm","q":1})", 20);
  CHECK(r.dev.round_state() == RoundState::Idle);
  // After a reconnect the old game is not subscribed again (it was subscribed once, when paired).
  r.dev.disconnected(30);
  const int64_t due = r.dev.next_deadline_us();
  r.dev.tick(due);
  r.dev.connected(due);
  CHECK(std::count(r.fx.subs.begin(), r.fx.subs.end(), "qz/games/g1/buzzers") == 1);
  r.msg("qz/devices/dev1/cmd", R"({"cmd":"identify","duration_ms":1500})", 1000000);
  CHECK(r.dev.next_deadline_us() == 2500000);
  r.msg("qz/devices/dev1/cmd", R"({"cmd":"identify","duration_ms":0})", 1000000);
  CHECK(r.fx.rejected.back().second == CodecError::BadValue);
}

TEST_CASE("an arm that locks out my team locks this buzzer; other teams' lock-outs arm it") {
  Rig r;
  r.online();
  r.pair("g1");  // team t3
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm","q":2,"locked_out":["t1","t3"]})", 10);
  CHECK(r.dev.round_state() == RoundState::Locked);
  r.dev.press(1000000);
  CHECK(r.fx.buzzes().empty());
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm","q":3,"locked_out":["t1","t\u0033x"]})", 20);
  CHECK(r.dev.round_state() == RoundState::Armed);
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm","q":3,"locked_out":["t1",3]})", 30);
  CHECK(r.fx.rejected.back().second == CodecError::WrongType);
  r.msg("qz/games/g1/buzzers", R"({"cmd":"arm","q":3,"locked_out":"t3"})", 40);
  CHECK(r.fx.rejected.back().second == CodecError::WrongType);
}

TEST_CASE("link_up cuts a long backoff short") {
  Rig r;
  r.dev.start(0);
  int64_t now = 0;
  for (int i = 0; i < 6; ++i) {  // Wi-Fi down: attempts fail, backoff grows
    r.dev.disconnected(now);
    now = r.dev.next_deadline_us();
    r.dev.tick(now);
  }
  r.dev.disconnected(now);
  CHECK(r.dev.next_deadline_us() - now >= 8000000);
  r.dev.link_up(now + 1000);
  CHECK(r.dev.next_deadline_us() == now + 1000);
  const int before = r.fx.connects;
  r.dev.tick(now + 1000);
  CHECK(r.fx.connects == before + 1);
  r.dev.link_up(now + 2000);  // connecting, not waiting: no effect
  CHECK(r.dev.next_deadline_us() == INT64_MAX);
}
