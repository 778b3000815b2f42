// The buzzer as one sans-IO object: inputs are events with their time, outputs are calls on an Effects sink.
//
//   inputs  start · connected · disconnected · message(topic, payload, t_rx) · button_edge / press(t_us) ·
//           published(msg_id) · tick(now) · set_telemetry · shutdown
//   outputs connect · publish(topic, payload, qos, retain) → msg id · subscribe · unsubscribe · led · piezo ·
//           save_pairing · observations (for logs and the host twin's stdout)
//
// Shells (ESP32: src/, host twin: host/) only translate: hardware and network events become inputs, effects
// become hardware and network calls. Every decision — what to subscribe, when to reconnect, what to send, what
// to show — is made here, so the host twin that the tests drive runs the same decisions as the real buzzer.
//
// Threading: a Device is not thread-safe. The shell calls it from one task/thread only (the ESP32 shell funnels
// ISR and MQTT-task events through a FreeRTOS queue into loop(); the host twin runs a single poll loop).
#pragma once

#include <cstddef>
#include <cstdint>

#include "backoff.h"
#include "codec.h"
#include "commands.h"
#include "ports.h"
#include "press.h"
#include "sync.h"

namespace quizhub {

constexpr size_t kTopicCap = 160;
constexpr size_t kRootCap = 64;

struct DeviceConfig {
  const char* root = "quizhub";  // topic root; may have several levels ("venue/quizhub"), no wildcards
  const char* device_id = "";    // one topic level, also MQTT client id and username
  const char* fw = "1.0.0";
  uint32_t boot = 0;             // boot counter (persisted by the shell, +1 per start)
  int64_t debounce_us = 30000;
  uint32_t backoff_base_ms = 500;
  uint32_t backoff_cap_ms = 30000;
  int64_t identify_us = 5000000;
  int64_t status_interval_us = 60000000;  // re-publish the retained status (fresh rssi/battery); 0 = on connect only
};

/// What "config" set; the shell persists it (NVS) so a rebooted buzzer rejoins its game at once.
struct Pairing {
  bool paired = false;
  char game[kIdCap] = {};
  char team[kIdCap] = {};
  bool has_color = false;
  Rgb color{255, 255, 255};
};

enum class TopicKind : uint8_t { Sync, Cmd, Buzzers, Error, Unknown };
const char* topic_kind_name(TopicKind k);

enum class IgnoredWhy : uint8_t { Debounce, State, QueueFull };
const char* ignored_why_name(IgnoredWhy w);

class Effects {
 public:
  virtual ~Effects() = default;
  // ---- transport
  /// Start one connection attempt (client id = username = device id, Will = Device::will_*). The outcome comes
  /// back as connected() or disconnected().
  virtual void connect() = 0;
  /// Returns the transport's message id (QoS 1: PUBACK arrives as published(id)); -1 if it was not accepted.
  virtual int publish(const char* topic, const char* payload, size_t len, int qos, bool retain) = 0;
  virtual void subscribe(const char* topic, int qos) = 0;
  virtual void unsubscribe(const char* topic) = 0;
  // ---- hardware
  virtual void led(const LedCommand& cmd) = 0;
  virtual void piezo(PiezoPattern p) = 0;
  // ---- persistence
  virtual void save_pairing(const Pairing&) {}
  // ---- observations: no effect on behaviour; logs on the ESP32, JSON lines in the host twin
  virtual void on_state(RoundState /*from*/, RoundState /*to*/, RoundInput /*why*/, const CmdMsg* /*cmd*/) {}
  virtual void on_press_ignored(int64_t /*t_us*/, IgnoredWhy /*why*/) {}
  virtual void on_buzz_sent(const BuzzMsg&, int /*msg_id*/, bool /*resend*/) {}
  virtual void on_buzz_queued(const BuzzMsg&) {}
  virtual void on_buzz_acked(const BuzzMsg&) {}
  virtual void on_sync_reply(const SyncReplyMsg&) {}
  virtual void on_config(const Pairing&) {}
  virtual void on_identify() {}
  virtual void on_rejected(TopicKind, CodecError) {}
  virtual void on_hub_error(const HubErrorMsg&) {}
  virtual void on_connection(bool /*online*/, uint32_t /*reconnect_in_ms*/) {}
};

class Device {
 public:
  Device(const DeviceConfig& cfg, Effects& fx, Clock& clock, Random& rng, const Pairing* restored = nullptr);

  /// False if root or device id cannot form topics; such a device does nothing.
  bool valid() const { return valid_; }

  // ---- inputs
  void start(int64_t now_us);
  void connected(int64_t now_us);
  /// The connection dropped, or an attempt failed. Schedules the next attempt with backoff.
  void disconnected(int64_t now_us);
  /// The network under MQTT came back (Wi-Fi associated, got an IP): retry now instead of at the backoff's
  /// end, and restart the backoff from base. Harmless at any other time.
  void link_up(int64_t now_us);
  /// An incoming publish; t_rx_us = device clock when the transport received it (the sync t2).
  void message(const char* topic, const char* payload, size_t len, int64_t t_rx_us);
  /// A button edge from the ISR (down = pressed) at t_us.
  void button_edge(bool down, int64_t t_us);
  /// A complete press at t_us (no electrical edges: host twin, tests).
  void press(int64_t t_us);
  /// QoS 1 PUBACK for a publish id.
  void published(int msg_id);
  void tick(int64_t now_us);
  void set_telemetry(bool has_rssi, int32_t rssi, bool has_battery, int32_t battery_mv);
  /// Graceful stop: publishes the offline status (the broker drops the Will on a clean disconnect).
  void shutdown();

  // ---- queries
  RoundState round_state() const { return round_.state(); }
  bool online() const { return conn_ == Conn::Online; }
  const Pairing& pairing() const { return pairing_; }
  size_t queued() const { return queue_.size(); }
  uint32_t next_seq() const { return seq_ + 1u; }
  const char* status_topic() const { return t_status_; }
  const char* will_topic() const { return t_status_; }
  /// The Will payload ({"state":"offline"}), for the shell's connect options.
  size_t will_payload(char* buf, size_t cap) const;
  const LedCommand& led() const { return led_; }
  /// When tick() next has something to do (reconnect, identify end, status refresh); INT64_MAX if nothing.
  int64_t next_deadline_us() const;
  uint32_t rejected_count() const { return rejected_; }

 private:
  enum class Conn : uint8_t { Stopped, Waiting, Connecting, Online };

  void apply(RoundInput in, const CmdMsg* cmd);
  void accepted_press(int64_t t_us);
  void on_cmd(const CmdMsg& m, int64_t t_rx_us);
  void configure(const CmdMsg& m);
  void unpair();
  void send_buzz(BuzzQueue::Entry& e, bool resend);
  void publish_status();
  void refresh_led();
  bool build_topics();
  void buzzers_topic(char* out, size_t cap, const char* game) const;

  DeviceConfig cfg_;
  Effects& fx_;
  Clock& clock_;
  Backoff backoff_;
  Button button_;
  RoundMachine round_;
  BuzzQueue queue_;
  Pairing pairing_;
  Conn conn_ = Conn::Stopped;
  bool valid_ = false;
  uint32_t seq_ = 0;
  int64_t reconnect_at_us_ = 0;
  int64_t identify_until_us_ = 0;
  bool identifying_ = false;
  int64_t last_status_us_ = 0;
  bool has_rssi_ = false, has_battery_ = false;
  int32_t rssi_ = 0, battery_mv_ = 0;
  uint32_t rejected_ = 0;
  LedCommand led_{LedPattern::Off, Rgb{}};
  bool led_sent_ = false;
  char id_[kIdCap] = {};
  char root_[kRootCap] = {};
  char t_status_[kTopicCap] = {};
  char t_buzz_[kTopicCap] = {};
  char t_sync_[kTopicCap] = {};
  char t_sync_reply_[kTopicCap] = {};
  char t_cmd_[kTopicCap] = {};
  char t_error_[kTopicCap] = {};
  char t_buzzers_[kTopicCap] = {};  // empty while unpaired
};

}  // namespace quizhub
