// host_buzzer: the buzzer's portable core on a PC, with libmosquitto as its transport and a simulated clock.
//
// It plays the part of one ESP32 buzzer against a real broker and hub, so tests (and people) can run a box of
// buzzers without hardware. Like the ESP32 shell it only translates: stdin lines and libmosquitto callbacks
// become Device inputs, Device effects become MQTT calls and JSON lines on stdout.
//
// Clock: device_us = CLOCK_MONOTONIC_us · (1 + drift_ppm·1e-6) + offset_us. Python's time.monotonic_ns() reads
// the same CLOCK_MONOTONIC, so a test knows the true (host) time of every press it orders.
//
// stdin (one command per line):
//   press                   press now
//   press-at <host_us>      press at host CLOCK_MONOTONIC µs <host_us>: t_us = the device clock at that instant.
//                           A future instant is waited for (the buzz leaves no earlier than a real press would);
//                           a past one is pressed at once with its past time.
//   now                     print {"event":"now","host_us":…,"dev_us":…}
//   quit                    publish the offline status, disconnect cleanly, exit 0 (EOF on stdin does the same)
//
// stdout: one JSON object per line, flushed, each with "event" and "host_us" (see print_* below and the README).
//
// Single-threaded: one ppoll() loop over stdin and the MQTT socket drives libmosquitto (loop_read/write/misc),
// the press scheduler and Device::tick(). Reconnects are decided by the core's jittered backoff.
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "device.h"

using namespace quizhub;

namespace {

int64_t mono_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

class HostClock final : public Clock {
 public:
  HostClock(int64_t offset_us, double drift_ppm) : offset_us_(offset_us), drift_ppm_(drift_ppm) {}
  int64_t at(int64_t host_us) const {
    return host_us + static_cast<int64_t>(std::llround(static_cast<double>(host_us) * drift_ppm_ * 1e-6)) + offset_us_;
  }
  int64_t now_us() override { return at(mono_us()); }

 private:
  int64_t offset_us_;
  double drift_ppm_;
};

std::string json_escape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o;
}

/// Builds one stdout line: {"event":…,"host_us":…,<fields>}.
class Line {
 public:
  explicit Line(const char* event) {
    s_ = "{\"event\":\"";
    s_ += event;
    s_ += "\",\"host_us\":" + std::to_string(mono_us());
  }
  Line& num(const char* k, int64_t v) {
    s_ += ",\"" + std::string(k) + "\":" + std::to_string(v);
    return *this;
  }
  Line& real(const char* k, double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.6g", v);
    s_ += ",\"" + std::string(k) + "\":" + b;
    return *this;
  }
  Line& str(const char* k, const std::string& v) {
    s_ += ",\"" + std::string(k) + "\":\"" + json_escape(v) + "\"";
    return *this;
  }
  Line& boolean(const char* k, bool v) {
    s_ += ",\"" + std::string(k) + "\":" + (v ? "true" : "false");
    return *this;
  }
  ~Line() {
    s_ += "}\n";
    std::fwrite(s_.data(), 1, s_.size(), stdout);
    std::fflush(stdout);
  }

 private:
  std::string s_;
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string id;
  std::string username;  // default: id
  std::string password;
  std::string root = "quizhub";
  int64_t offset_us = 0;
  double drift_ppm = 0.0;
  uint32_t boot = 1;
  std::string boot_file;
  std::string fw = "1.0.0";
  int keepalive = 5;
  uint32_t backoff_base_ms = 500;
  uint32_t backoff_cap_ms = 5000;
  int64_t debounce_us = 30000;
  uint32_t seed = 0;
  int rssi = -60;
  int battery_mv = 3900;
};

void usage(FILE* to) {
  std::fprintf(to,
               "usage: host_buzzer --id DEV [--host 127.0.0.1] [--port 1883] [--password SECRET] [--username U]\n"
               "                   [--root quizhub] [--offset-us N] [--drift-ppm X] [--boot N | --boot-file PATH]\n"
               "                   [--fw 1.0.0] [--keepalive 5] [--backoff-base-ms 500] [--backoff-cap-ms 5000]\n"
               "                   [--debounce-us 30000] [--seed N] [--rssi -60] [--battery-mv 3900]\n"
               "       host_buzzer --transitions   (print the round state table as Markdown)\n"
               "stdin: press | press-at <host_monotonic_us> | now | quit      stdout: one JSON event per line\n");
}

/// The round state machine as a Markdown table, generated from the core's table (README.md embeds it verbatim;
/// a test checks they agree).
void print_transitions() {
  const RoundInput inputs[] = {RoundInput::Press, RoundInput::Arm, RoundInput::Lock, RoundInput::Win,
                               RoundInput::Reset};
  std::printf("| state \\ input |");
  for (RoundInput in : inputs) std::printf(" %s |", round_input_name(in));
  std::printf("\n|---|---|---|---|---|---|\n");
  for (int s = 0; s <= static_cast<int>(RoundState::Won); ++s) {
    const auto st = static_cast<RoundState>(s);
    std::printf("| **%s** |", round_state_name(st));
    for (RoundInput in : inputs) {
      const Transition t = round_transition(st, in);
      std::printf(" %s%s |", round_state_name(t.next), t.send_buzz ? " + buzz" : "");
    }
    std::printf("\n");
  }
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage(stdout);
      std::exit(0);
    }
    if (a == "--transitions") {
      print_transitions();
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "host_buzzer: %s needs a value (or is unknown)\n", a.c_str());
      return false;
    }
    const std::string v = argv[++i];
    char* end = nullptr;
    auto as_ll = [&](long long& out) {
      errno = 0;
      out = std::strtoll(v.c_str(), &end, 10);
      return errno == 0 && end != v.c_str() && *end == '\0';
    };
    long long n = 0;
    if (a == "--host") {
      o.host = v;
    } else if (a == "--id") {
      o.id = v;
    } else if (a == "--username") {
      o.username = v;
    } else if (a == "--password") {
      o.password = v;
    } else if (a == "--root") {
      o.root = v;
    } else if (a == "--boot-file") {
      o.boot_file = v;
    } else if (a == "--fw") {
      o.fw = v;
    } else if (a == "--drift-ppm") {
      o.drift_ppm = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0' || std::fabs(o.drift_ppm) > 100000) {
        std::fprintf(stderr, "host_buzzer: bad --drift-ppm %s\n", v.c_str());
        return false;
      }
    } else if (as_ll(n)) {
      if (a == "--port") o.port = static_cast<int>(n);
      else if (a == "--offset-us") o.offset_us = n;
      else if (a == "--boot") o.boot = static_cast<uint32_t>(n);
      else if (a == "--keepalive") o.keepalive = static_cast<int>(n);
      else if (a == "--backoff-base-ms") o.backoff_base_ms = static_cast<uint32_t>(n);
      else if (a == "--backoff-cap-ms") o.backoff_cap_ms = static_cast<uint32_t>(n);
      else if (a == "--debounce-us") o.debounce_us = n;
      else if (a == "--seed") o.seed = static_cast<uint32_t>(n);
      else if (a == "--rssi") o.rssi = static_cast<int>(n);
      else if (a == "--battery-mv") o.battery_mv = static_cast<int>(n);
      else {
        std::fprintf(stderr, "host_buzzer: unknown flag %s\n", a.c_str());
        return false;
      }
    } else {
      std::fprintf(stderr, "host_buzzer: unknown flag or bad number: %s %s\n", a.c_str(), v.c_str());
      return false;
    }
  }
  if (o.id.empty()) {
    std::fprintf(stderr, "host_buzzer: --id is required\n");
    return false;
  }
  if (o.keepalive != 0 && o.keepalive < 5) {
    std::fprintf(stderr, "host_buzzer: --keepalive must be 0 or >= 5 s (libmosquitto refuses less)\n");
    return false;
  }
  if (o.port <= 0 || o.port > 65535) {
    std::fprintf(stderr, "host_buzzer: bad --port\n");
    return false;
  }
  if (o.username.empty()) o.username = o.id;
  return true;
}

/// Like NVS on the ESP32: read the last boot number, add one, write it back.
bool next_boot(const std::string& path, uint32_t& boot) {
  uint32_t last = 0;
  {
    std::ifstream in(path);
    if (in) in >> last;
  }
  boot = last + 1;
  std::ofstream out(path, std::ios::trunc);
  out << boot << "\n";
  return static_cast<bool>(out);
}

class HostBuzzer final : public Effects {
 public:
  HostBuzzer(const Options& o, HostClock& clock, Random& rng, const DeviceConfig& cfg)
      : opt_(o), clock_(clock), dev_(cfg, *this, clock, rng) {}

  ~HostBuzzer() override {
    if (mosq_ != nullptr) mosquitto_destroy(mosq_);
  }

  bool init() {
    if (!dev_.valid()) {
      Line("error").str("message", "invalid --id or --root: they must form MQTT topics");
      return false;
    }
    mosq_ = mosquitto_new(opt_.id.c_str(), true, this);
    if (mosq_ == nullptr) return false;
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    // A buzz is one small packet that must leave now: without this, Nagle + delayed ACK adds ~40 ms.
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(mosq_, [](mosquitto*, void* self, int rc) { static_cast<HostBuzzer*>(self)->on_connect(rc); });
    mosquitto_disconnect_callback_set(mosq_, [](mosquitto*, void* self, int rc) { static_cast<HostBuzzer*>(self)->on_disconnect(rc); });
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* self, const mosquitto_message* m) {
      static_cast<HostBuzzer*>(self)->on_message(m);
    });
    mosquitto_publish_callback_set(mosq_, [](mosquitto*, void* self, int mid) { static_cast<HostBuzzer*>(self)->on_publish(mid); });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* self, int mid, int n, const int* granted) {
      static_cast<HostBuzzer*>(self)->on_subscribe(mid, n, granted);
    });
    if (!opt_.password.empty() || !opt_.username.empty()) {
      mosquitto_username_pw_set(mosq_, opt_.username.c_str(), opt_.password.empty() ? nullptr : opt_.password.c_str());
    }
    char will[32];
    const size_t n = dev_.will_payload(will, sizeof will);
    mosquitto_will_set(mosq_, dev_.will_topic(), static_cast<int>(n), will, 1, true);
    dev_.set_telemetry(true, opt_.rssi, true, opt_.battery_mv);
    return true;
  }

  int run() {
    dev_.start(clock_.now_us());
    std::string inbuf;
    bool stdin_open = true;
    while (!quit_) {
      if (connect_requested_) do_connect();
      const int64_t host_now = mono_us();
      fire_due_presses(host_now);
      dev_.tick(clock_.at(host_now));
      if (connect_requested_) continue;

      // Sleep until the next thing: a scheduled press, a core deadline, or 100 ms for keepalive housekeeping.
      int64_t wait_us = 100000;
      if (!scheduled_.empty()) wait_us = std::min(wait_us, scheduled_.front() - host_now);
      const int64_t dl = dev_.next_deadline_us();
      if (dl != INT64_MAX) wait_us = std::min(wait_us, dl - clock_.at(host_now));
      wait_us = std::max<int64_t>(wait_us, 0);

      pollfd fds[2];
      nfds_t nfds = 0;
      int in_idx = -1, sock_idx = -1;
      if (stdin_open) {
        fds[nfds] = pollfd{STDIN_FILENO, POLLIN, 0};
        in_idx = static_cast<int>(nfds++);
      }
      const int sock = mosquitto_socket(mosq_);
      if (sock >= 0) {
        fds[nfds] = pollfd{sock, static_cast<short>(POLLIN | (mosquitto_want_write(mosq_) ? POLLOUT : 0)), 0};
        sock_idx = static_cast<int>(nfds++);
      }
      timespec ts{static_cast<time_t>(wait_us / 1000000), static_cast<long>((wait_us % 1000000) * 1000)};
      const int pr = ppoll(fds, nfds, &ts, nullptr);
      if (pr < 0 && errno != EINTR) {
        Line("error").str("message", std::string("poll: ") + std::strerror(errno));
        return 1;
      }
      if (sock_idx >= 0) {
        const short re = fds[sock_idx].revents;
        if (re & (POLLIN | POLLERR | POLLHUP)) mosquitto_loop_read(mosq_, 1);
        if (mosquitto_socket(mosq_) >= 0 && (re & POLLOUT)) mosquitto_loop_write(mosq_, 1);
      }
      if (mosquitto_socket(mosq_) >= 0) mosquitto_loop_misc(mosq_);  // keepalive PINGREQ / timeout
      if (in_idx >= 0 && (fds[in_idx].revents & (POLLIN | POLLHUP | POLLERR))) {
        char buf[4096];
        const ssize_t r = ::read(STDIN_FILENO, buf, sizeof buf);
        if (r <= 0) {
          stdin_open = false;
          quit_ = true;
        } else {
          inbuf.append(buf, static_cast<size_t>(r));
          size_t nl;
          while ((nl = inbuf.find('\n')) != std::string::npos) {
            command(inbuf.substr(0, nl));
            inbuf.erase(0, nl + 1);
          }
        }
      }
    }
    goodbye();
    return 0;
  }

  // ---- Effects
  void connect() override { connect_requested_ = true; }

  int publish(const char* topic, const char* payload, size_t len, int qos, bool retain) override {
    int mid = -1;
    const int rc = mosquitto_publish(mosq_, &mid, topic, static_cast<int>(len), payload, qos, retain);
    if (rc != MOSQ_ERR_SUCCESS) return -1;
    if (std::strcmp(topic, dev_.status_topic()) == 0) {
      Line("status").str("payload", std::string(payload, len)).num("mid", mid);
      if (goodbye_) goodbye_mid_ = mid;
    }
    return mid;
  }

  void subscribe(const char* topic, int qos) override {
    int mid = -1;
    if (mosquitto_subscribe(mosq_, &mid, topic, qos) == MOSQ_ERR_SUCCESS) pending_subs_[mid] = topic;
  }

  void unsubscribe(const char* topic) override {
    mosquitto_unsubscribe(mosq_, nullptr, topic);
    Line("unsubscribed").str("topic", topic);
  }

  void led(const LedCommand& c) override {
    char col[8];
    format_color(c.color, col);
    Line("led").str("pattern", led_pattern_name(c.pattern)).str("color", col);
  }

  void piezo(PiezoPattern p) override { Line("piezo").str("pattern", piezo_pattern_name(p)); }

  void on_state(RoundState from, RoundState to, RoundInput why, const CmdMsg* cmd) override {
    Line l("state");
    l.str("from", round_state_name(from)).str("to", round_state_name(to)).str("input", round_input_name(why));
    if (cmd != nullptr && cmd->has_q) l.num("q", cmd->q);
    if (cmd != nullptr && cmd->has_winner) l.str("winner", cmd->winner);
    // The names the tests wait for: "won" and "locked" as events of their own.
    if (to == RoundState::Won && from != RoundState::Won) Line("won");
    if (to == RoundState::Locked && from != RoundState::Locked) Line("locked");
    if (to == RoundState::Armed) Line("armed");
  }
  void on_press_ignored(int64_t t_us, IgnoredWhy why) override {
    Line("press_ignored").num("t_us", t_us).str("reason", ignored_why_name(why));
  }
  void on_buzz_sent(const BuzzMsg& b, int mid, bool resend) override {
    Line("buzz").num("seq", b.seq).num("boot", b.boot).num("t_us", b.t_us).num("mid", mid).boolean("resend", resend);
  }
  void on_buzz_queued(const BuzzMsg& b) override {
    Line("queued").num("seq", b.seq).num("boot", b.boot).num("t_us", b.t_us);
  }
  void on_buzz_acked(const BuzzMsg& b) override { Line("buzz_acked").num("seq", b.seq); }
  void on_sync_reply(const SyncReplyMsg& r) override {
    Line("sync_reply").num("n", r.n).num("t1", r.t1).num("t2", r.t2).num("t3", r.t3);
  }
  void on_config(const Pairing& p) override {
    char col[8];
    format_color(p.color, col);
    Line("config").str("game", p.game).str("team", p.team).str("color", col);
  }
  void on_identify() override { Line("identify"); }
  void on_rejected(TopicKind k, CodecError e) override {
    Line("rejected").str("topic_kind", topic_kind_name(k)).str("error", codec_error_name(e));
  }
  void on_hub_error(const HubErrorMsg& e) override { Line("hub_error").str("code", e.code).str("message", e.message); }
  void on_connection(bool online, uint32_t reconnect_in_ms) override {
    if (online) {
      Line("connected");
    } else {
      Line("disconnected").num("reconnect_in_ms", reconnect_in_ms);
    }
  }

 private:
  void do_connect() {
    connect_requested_ = false;
    ++attempts_;
    Line("connecting").num("attempt", attempts_).str("host", opt_.host).num("port", opt_.port);
    // Blocking TCP connect: instantaneous on loopback/LAN, refused at once when the broker is down.
    // Every attempt is a full mosquitto_connect (same host, port, keepalive, Will); backoff is the core's.
    const int rc = mosquitto_connect(mosq_, opt_.host.c_str(), opt_.port, opt_.keepalive);
    if (rc != MOSQ_ERR_SUCCESS) {
      Line("connect_failed").str("error", rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc));
      dev_.disconnected(clock_.now_us());
    }
  }

  void on_connect(int rc) {
    if (rc != 0) {
      Line("connect_refused").num("rc", rc).str("reason", mosquitto_connack_string(rc));
      dev_.disconnected(clock_.now_us());
      return;
    }
    dev_.connected(clock_.now_us());
  }

  void on_disconnect(int rc) {
    if (goodbye_) return;
    Line("link_down").num("rc", rc).str("reason", mosquitto_strerror(rc));
    dev_.disconnected(clock_.now_us());
  }

  void on_message(const mosquitto_message* m) {
    // t2: the device clock as early as the receive path allows, before any parsing.
    const int64_t t_rx = clock_.now_us();
    dev_.message(m->topic, static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen), t_rx);
  }

  void on_publish(int mid) {
    if (goodbye_ && mid == goodbye_mid_) goodbye_acked_ = true;
    dev_.published(mid);
  }

  void on_subscribe(int mid, int n, const int* granted) {
    const auto it = pending_subs_.find(mid);
    if (it == pending_subs_.end()) return;
    Line("subscribed").str("topic", it->second).num("qos", n > 0 ? granted[0] : -1);
    pending_subs_.erase(it);
  }

  void command(std::string line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) return;
    if (line == "press") {
      press_at(mono_us());
    } else if (line.rfind("press-at ", 0) == 0) {
      char* end = nullptr;
      const long long t = std::strtoll(line.c_str() + 9, &end, 10);
      if (end == line.c_str() + 9 || *end != '\0') {
        Line("error").str("message", "press-at needs an integer host CLOCK_MONOTONIC µs").str("line", line);
        return;
      }
      if (t > mono_us()) {
        scheduled_.insert(std::upper_bound(scheduled_.begin(), scheduled_.end(), t), t);
        Line("press_scheduled").num("at_host_us", t).num("t_us", clock_.at(t));
      } else {
        press_at(t);
      }
    } else if (line == "now") {
      const int64_t h = mono_us();
      Line("now").num("dev_us", clock_.at(h)).num("at_host_us", h);
    } else if (line == "quit") {
      quit_ = true;
    } else {
      Line("error").str("message", "unknown command").str("line", line);
    }
  }

  void press_at(int64_t host_us) {
    const int64_t t = clock_.at(host_us);
    Line("press").num("t_us", t).num("at_host_us", host_us);
    dev_.press(t);
  }

  void fire_due_presses(int64_t host_now) {
    while (!scheduled_.empty() && scheduled_.front() <= host_now) {
      const int64_t t = scheduled_.front();
      scheduled_.erase(scheduled_.begin());
      press_at(t);
    }
  }

  void goodbye() {
    goodbye_ = true;
    const bool was_online = dev_.online();
    dev_.shutdown();
    if (was_online) {
      // Wait (bounded) for the offline status PUBACK, then DISCONNECT so the broker discards the Will.
      const int64_t until = mono_us() + 2000000;
      while (!goodbye_acked_ && mono_us() < until && mosquitto_socket(mosq_) >= 0) {
        pollfd p{mosquitto_socket(mosq_), static_cast<short>(POLLIN | (mosquitto_want_write(mosq_) ? POLLOUT : 0)), 0};
        if (poll(&p, 1, 50) > 0) {
          if (p.revents & POLLOUT) mosquitto_loop_write(mosq_, 1);
          if (p.revents & (POLLIN | POLLERR | POLLHUP)) mosquitto_loop_read(mosq_, 1);
        }
      }
      mosquitto_disconnect(mosq_);
      for (int i = 0; i < 10 && mosquitto_socket(mosq_) >= 0 && mosquitto_want_write(mosq_); ++i) {
        mosquitto_loop_write(mosq_, 1);
      }
    }
    Line("bye").num("queued", static_cast<int64_t>(dev_.queued()));
  }

  const Options& opt_;
  HostClock& clock_;
  Device dev_;
  mosquitto* mosq_ = nullptr;
  bool connect_requested_ = false;
  bool quit_ = false;
  bool goodbye_ = false;
  bool goodbye_acked_ = false;
  int goodbye_mid_ = -1;
  int64_t attempts_ = 0;
  std::map<int, std::string> pending_subs_;
  std::vector<int64_t> scheduled_;  // host µs, sorted
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse_args(argc, argv, opt)) {
    usage(stderr);
    return 2;
  }
  if (!opt.boot_file.empty() && !next_boot(opt.boot_file, opt.boot)) {
    std::fprintf(stderr, "host_buzzer: cannot write --boot-file %s\n", opt.boot_file.c_str());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  mosquitto_lib_init();
  HostClock clock(opt.offset_us, opt.drift_ppm);
  const uint32_t seed = opt.seed != 0 ? opt.seed : static_cast<uint32_t>(mono_us() ^ (getpid() << 16));
  XorShift32 rng(seed);  // jitter only needs to differ between buzzers, not be secret
  DeviceConfig cfg;
  cfg.root = opt.root.c_str();
  cfg.device_id = opt.id.c_str();
  cfg.fw = opt.fw.c_str();
  cfg.boot = opt.boot;
  cfg.debounce_us = opt.debounce_us;
  cfg.backoff_base_ms = opt.backoff_base_ms;
  cfg.backoff_cap_ms = opt.backoff_cap_ms;
  int rc = 1;
  {
    HostBuzzer hb(opt, clock, rng, cfg);
    Line("start")
        .str("id", opt.id)
        .str("root", opt.root)
        .num("boot", opt.boot)
        .num("offset_us", opt.offset_us)
        .real("drift_ppm", opt.drift_ppm)
        .num("pid", getpid())
        .num("dev_us", clock.now_us());
    if (hb.init()) rc = hb.run();
  }
  mosquitto_lib_cleanup();
  return rc;
}
