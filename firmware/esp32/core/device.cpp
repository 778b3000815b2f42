#include "device.h"

#include <cstring>
#include <initializer_list>

namespace quizhub {

const char* topic_kind_name(TopicKind k) {
  switch (k) {
    case TopicKind::Sync: return "sync";
    case TopicKind::Cmd: return "cmd";
    case TopicKind::Buzzers: return "buzzers";
    case TopicKind::Error: return "error";
    case TopicKind::Unknown: return "unknown";
  }
  return "?";
}

const char* ignored_why_name(IgnoredWhy w) {
  switch (w) {
    case IgnoredWhy::Debounce: return "debounce";
    case IgnoredWhy::State: return "state";
    case IgnoredWhy::QueueFull: return "queue_full";
  }
  return "?";
}

namespace {

/// out = a + b + c + d (any may be null). False, and out empty, if it does not fit.
bool join(char* out, size_t cap, const char* a, const char* b, const char* c = nullptr, const char* d = nullptr) {
  size_t n = 0;
  for (const char* part : {a, b, c, d}) {
    if (part == nullptr) continue;
    const size_t len = std::strlen(part);
    if (n + len + 1 > cap) {
      out[0] = '\0';
      return false;
    }
    std::memcpy(out + n, part, len);
    n += len;
  }
  out[n] = '\0';
  return true;
}

bool valid_root(const char* root) {
  const size_t n = root == nullptr ? 0 : std::strlen(root);
  if (n == 0 || n >= kRootCap || root[0] == '/' || root[n - 1] == '/') return false;
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(root[i]);
    if (c <= 0x20 || c >= 0x7F || c == '+' || c == '#') return false;
    if (c == '/' && root[i + 1] == '/') return false;  // no empty level
  }
  return true;
}

/// Bounded copy that always terminates (callers validated the length; this is the belt to those braces).
void copy_id(char* out, size_t cap, const char* s) {
  size_t i = 0;
  for (; i + 1 < cap && s[i] != '\0'; ++i) out[i] = s[i];
  out[i] = '\0';
}

}  // namespace

Device::Device(const DeviceConfig& cfg, Effects& fx, Clock& clock, Random& rng, const Pairing* restored)
    : cfg_(cfg), fx_(fx), clock_(clock), backoff_(cfg.backoff_base_ms, cfg.backoff_cap_ms, rng),
      button_(cfg.debounce_us) {
  valid_ = valid_root(cfg.root) && valid_topic_id(cfg.device_id);
  if (!valid_) return;
  copy_id(root_, sizeof root_, cfg.root);
  copy_id(id_, sizeof id_, cfg.device_id);
  cfg_.root = root_;
  cfg_.device_id = id_;
  valid_ = build_topics();
  if (restored != nullptr && restored->paired && valid_topic_id(restored->game)) {
    pairing_ = *restored;
    buzzers_topic(t_buzzers_, sizeof t_buzzers_, pairing_.game);
  }
}

bool Device::build_topics() {
  const char* dev = "/devices/";
  return join(t_status_, kTopicCap, root_, dev, id_, "/status") &&
         join(t_buzz_, kTopicCap, root_, dev, id_, "/buzz") &&
         join(t_sync_, kTopicCap, root_, dev, id_, "/sync") &&
         join(t_sync_reply_, kTopicCap, root_, dev, id_, "/sync/reply") &&
         join(t_cmd_, kTopicCap, root_, dev, id_, "/cmd") &&
         join(t_error_, kTopicCap, root_, dev, id_, "/error");
}

void Device::buzzers_topic(char* out, size_t cap, const char* game) const {
  join(out, cap, root_, "/games/", game, "/buzzers");
}

size_t Device::will_payload(char* buf, size_t cap) const {
  StatusMsg m;
  m.online = false;
  return encode_status(m, buf, cap);
}

// ------------------------------------------------------------------ connection

void Device::start(int64_t now_us) {
  if (!valid_ || conn_ != Conn::Stopped) return;
  (void)now_us;
  refresh_led();
  conn_ = Conn::Connecting;
  fx_.connect();
}

void Device::connected(int64_t now_us) {
  if (!valid_) return;
  conn_ = Conn::Online;
  backoff_.reset();
  fx_.on_connection(true, 0);
  // Clean session: every connect subscribes afresh. Sync is QoS 0 on purpose: a redelivered ping would report
  // a long round trip, a lost one is simply not counted.
  fx_.subscribe(t_cmd_, 1);
  fx_.subscribe(t_sync_, 0);
  fx_.subscribe(t_error_, 0);
  if (pairing_.paired) fx_.subscribe(t_buzzers_, 1);
  publish_status();
  last_status_us_ = now_us;
  // Presses made offline (or cut in flight) go out now, oldest first, with their original seq and t_us.
  for (size_t i = 0; i < queue_.size(); ++i) {
    BuzzQueue::Entry& e = queue_.at(i);
    if (e.msg_id < 0) send_buzz(e, true);
  }
  refresh_led();
}

void Device::disconnected(int64_t now_us) {
  if (!valid_ || conn_ == Conn::Waiting || conn_ == Conn::Stopped) return;
  conn_ = Conn::Waiting;
  queue_.mark_all_unsent();
  const uint32_t delay_ms = backoff_.next_delay_ms();
  reconnect_at_us_ = now_us + static_cast<int64_t>(delay_ms) * 1000;
  fx_.on_connection(false, delay_ms);
  refresh_led();
}

void Device::link_up(int64_t now_us) {
  if (!valid_ || conn_ != Conn::Waiting) return;
  backoff_.reset();
  reconnect_at_us_ = now_us;
}

void Device::shutdown() {
  if (conn_ == Conn::Online) {
    char buf[32];
    const size_t n = will_payload(buf, sizeof buf);
    fx_.publish(t_status_, buf, n, 1, true);
  }
  conn_ = Conn::Stopped;
}

int64_t Device::next_deadline_us() const {
  int64_t d = INT64_MAX;
  if (conn_ == Conn::Waiting) d = reconnect_at_us_;
  if (identifying_ && identify_until_us_ < d) d = identify_until_us_;
  if (conn_ == Conn::Online && cfg_.status_interval_us > 0) {
    const int64_t s = last_status_us_ + cfg_.status_interval_us;
    if (s < d) d = s;
  }
  return d;
}

void Device::tick(int64_t now_us) {
  if (!valid_) return;
  if (conn_ == Conn::Waiting && now_us >= reconnect_at_us_) {
    conn_ = Conn::Connecting;
    fx_.connect();
  }
  if (identifying_ && now_us >= identify_until_us_) {
    identifying_ = false;
    refresh_led();
  }
  if (conn_ == Conn::Online && cfg_.status_interval_us > 0 && now_us - last_status_us_ >= cfg_.status_interval_us) {
    publish_status();
    last_status_us_ = now_us;
  }
}

void Device::set_telemetry(bool has_rssi, int32_t rssi, bool has_battery, int32_t battery_mv) {
  has_rssi_ = has_rssi;
  rssi_ = rssi;
  has_battery_ = has_battery;
  battery_mv_ = battery_mv;
}

void Device::publish_status() {
  StatusMsg m;
  m.online = true;
  m.fw = cfg_.fw;
  m.has_rssi = has_rssi_;
  m.rssi = rssi_;
  m.has_battery = has_battery_;
  m.battery_mv = battery_mv_;
  m.has_boot = true;
  m.boot = cfg_.boot;
  char buf[128];
  const size_t n = encode_status(m, buf, sizeof buf);
  if (n > 0) fx_.publish(t_status_, buf, n, 1, true);
}

// ------------------------------------------------------------------ messages

void Device::message(const char* topic, const char* payload, size_t len, int64_t t_rx_us) {
  if (!valid_ || topic == nullptr) return;
  if (std::strcmp(topic, t_sync_) == 0) {
    SyncReplyMsg pending;
    const CodecError e = sync_receive(payload, len, t_rx_us, pending);
    if (e != CodecError::Ok) {
      ++rejected_;
      fx_.on_rejected(TopicKind::Sync, e);
      return;
    }
    pending.has_boot = true;
    pending.boot = cfg_.boot;
    char buf[128];
    // t3 is read as late as possible: immediately before the publish call.
    const size_t n = sync_reply(pending, clock_.now_us(), buf, sizeof buf);
    fx_.publish(t_sync_reply_, buf, n, 0, false);
    fx_.on_sync_reply(pending);
    return;
  }
  if (std::strcmp(topic, t_cmd_) == 0) {
    CmdMsg m;
    const CodecError e = decode_cmd(payload, len, m);
    if (e != CodecError::Ok) {
      ++rejected_;
      fx_.on_rejected(TopicKind::Cmd, e);
      return;
    }
    on_cmd(m, t_rx_us);
    return;
  }
  if (pairing_.paired && std::strcmp(topic, t_buzzers_) == 0) {
    CmdMsg m;
    const CodecError e = decode_buzzers(payload, len, m, pairing_.team);
    if (e != CodecError::Ok) {
      ++rejected_;
      fx_.on_rejected(TopicKind::Buzzers, e);
      return;
    }
    on_cmd(m, t_rx_us);
    return;
  }
  if (std::strcmp(topic, t_error_) == 0) {
    HubErrorMsg m;
    const CodecError e = decode_hub_error(payload, len, m);
    if (e != CodecError::Ok) {
      ++rejected_;
      fx_.on_rejected(TopicKind::Error, e);
      return;
    }
    fx_.on_hub_error(m);
    return;
  }
  // A retained/late message for a game we just left, or a broker quirk: not ours to act on.
  ++rejected_;
  fx_.on_rejected(TopicKind::Unknown, CodecError::Ok);
}

void Device::on_cmd(const CmdMsg& m, int64_t t_rx_us) {
  switch (m.kind) {
    case CmdKind::Config:
      configure(m);
      return;
    case CmdKind::Unpair:
      unpair();
      return;
    case CmdKind::Identify:
      identifying_ = true;
      identify_until_us_ = t_rx_us + (m.has_duration_ms ? m.duration_ms * 1000 : cfg_.identify_us);
      fx_.on_identify();
      fx_.piezo(PiezoPattern::Identify);
      refresh_led();
      return;
    case CmdKind::Arm:
      // A re-open that excludes my team (it answered wrong) locks this buzzer instead of arming it.
      apply(m.excluded ? RoundInput::Lock : RoundInput::Arm, &m);
      return;
    case CmdKind::Lock: {
      const bool me = m.has_winner && std::strcmp(m.winner, id_) == 0;
      apply(me ? RoundInput::Win : RoundInput::Lock, &m);
      return;
    }
    case CmdKind::Win:
      apply(RoundInput::Win, &m);
      return;
    case CmdKind::Reset:
      apply(RoundInput::Reset, &m);
      return;
  }
}

void Device::configure(const CmdMsg& m) {
  const bool same_game = pairing_.paired && std::strcmp(pairing_.game, m.game) == 0;
  if (!same_game) {
    if (pairing_.paired && conn_ == Conn::Online) fx_.unsubscribe(t_buzzers_);
    copy_id(pairing_.game, sizeof pairing_.game, m.game);
    buzzers_topic(t_buzzers_, sizeof t_buzzers_, pairing_.game);
  }
  pairing_.paired = true;
  if (m.has_team) {
    copy_id(pairing_.team, sizeof pairing_.team, m.team);
  } else {
    pairing_.team[0] = '\0';
  }
  pairing_.has_color = m.has_color;
  pairing_.color = m.has_color ? m.color : Rgb{255, 255, 255};
  fx_.save_pairing(pairing_);
  fx_.on_config(pairing_);
  if (!same_game) {
    if (conn_ == Conn::Online) fx_.subscribe(t_buzzers_, 1);
    // A new game starts a new round context.
    apply(RoundInput::Reset, nullptr);
  }
  refresh_led();
}

void Device::unpair() {
  if (pairing_.paired && conn_ == Conn::Online) fx_.unsubscribe(t_buzzers_);
  pairing_ = Pairing{};
  t_buzzers_[0] = '\0';
  fx_.save_pairing(pairing_);
  fx_.on_config(pairing_);
  apply(RoundInput::Reset, nullptr);
  refresh_led();
}

// ------------------------------------------------------------------ presses

void Device::button_edge(bool down, int64_t t_us) {
  if (!valid_) return;
  if (button_.edge(down, t_us)) {
    accepted_press(t_us);
  } else if (down) {
    fx_.on_press_ignored(t_us, IgnoredWhy::Debounce);
  }
}

void Device::press(int64_t t_us) {
  if (!valid_) return;
  if (button_.tap(t_us)) {
    accepted_press(t_us);
  } else {
    fx_.on_press_ignored(t_us, IgnoredWhy::Debounce);
  }
}

void Device::accepted_press(int64_t t_us) {
  const Transition tr = round_transition(round_.state(), RoundInput::Press);
  if (!tr.send_buzz) {
    fx_.on_press_ignored(t_us, IgnoredWhy::State);
    return;
  }
  const BuzzMsg msg{seq_ + 1u, cfg_.boot, t_us};
  if (!queue_.push(msg)) {
    fx_.on_press_ignored(t_us, IgnoredWhy::QueueFull);
    return;
  }
  ++seq_;
  apply(RoundInput::Press, nullptr);
  BuzzQueue::Entry& e = queue_.at(queue_.size() - 1);
  if (conn_ == Conn::Online) {
    send_buzz(e, false);
  } else {
    fx_.on_buzz_queued(msg);
  }
}

void Device::send_buzz(BuzzQueue::Entry& e, bool resend) {
  char buf[96];
  const size_t n = encode_buzz(e.msg, buf, sizeof buf);
  e.msg_id = fx_.publish(t_buzz_, buf, n, 1, false);
  fx_.on_buzz_sent(e.msg, e.msg_id, resend);
}

void Device::published(int msg_id) {
  BuzzMsg acked;
  if (queue_.ack(msg_id, &acked)) fx_.on_buzz_acked(acked);
}

// ------------------------------------------------------------------ state and outputs

void Device::apply(RoundInput in, const CmdMsg* cmd) {
  const RoundState from = round_.state();
  const Transition t = round_.apply(in);
  fx_.on_state(from, t.next, in, cmd);
  const PiezoPattern p = piezo_for(from, t.next);
  if (p != PiezoPattern::None) fx_.piezo(p);
  refresh_led();
}

void Device::refresh_led() {
  const Rgb team = pairing_.has_color ? pairing_.color : Rgb{255, 255, 255};
  const LedCommand want = led_for(round_.state(), conn_ == Conn::Online, pairing_.paired, identifying_, team);
  if (led_sent_ && want == led_) return;
  led_ = want;
  led_sent_ = true;
  fx_.led(led_);
}

}  // namespace quizhub
