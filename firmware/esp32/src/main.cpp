// Quizhub buzzer — ESP32 shell (Arduino-ESP32). It only translates:
//   GPIO ISR edge (esp_timer_get_time)  → Device::button_edge
//   esp-mqtt events (own task, queued)  → Device::connected / disconnected / message / published
//   loop time                           → Device::tick
//   Device effects                      → esp-mqtt calls, WS2812, piezo, NVS
// Every decision (what to send, when to reconnect, what to show) is in the portable core (../core), which the
// host build tests; see README.md.
#include <Arduino.h>
#include <WiFi.h>
#include <esp_timer.h>
#include <esp_wifi.h>
#include <freertos/FreeRTOS.h>
#include <freertos/task.h>

#include "device.h"
#include "hardware.h"
#include "provisioning.h"
#include "settings.h"
#include "transport_mqtt.h"

#ifndef QH_FW_VERSION
#define QH_FW_VERSION "dev"
#endif

namespace {

using namespace quizhub;

class EspClock final : public Clock {
 public:
  int64_t now_us() override { return esp_timer_get_time(); }
};

class EspRandom final : public Random {
 public:
  uint32_t next_u32() override { return esp_random(); }  // hardware RNG (true random once Wi-Fi/BT is on)
};

class Shell final : public Effects {
 public:
  void connect() override {
    if (WiFi.status() != WL_CONNECTED) {
      // No network yet: tell the core the attempt failed; its backoff retries. Wi-Fi reconnects by itself.
      wifi_fail_pending = true;
      return;
    }
    shell::mqtt_connect();
  }
  int publish(const char* topic, const char* payload, size_t len, int qos, bool retain) override {
    return shell::mqtt_publish(topic, payload, len, qos, retain);
  }
  void subscribe(const char* topic, int qos) override { shell::mqtt_subscribe(topic, qos); }
  void unsubscribe(const char* topic) override { shell::mqtt_unsubscribe(topic); }
  void led(const LedCommand& c) override { shell::led_set(c, esp_timer_get_time()); }
  void piezo(PiezoPattern p) override { shell::piezo_play(p, esp_timer_get_time()); }
  void save_pairing(const Pairing& p) override { shell::save_pairing(p); }

  void on_state(RoundState from, RoundState to, RoundInput why, const CmdMsg*) override {
    log_i("state %s -> %s (%s)", round_state_name(from), round_state_name(to), round_input_name(why));
  }
  void on_buzz_sent(const BuzzMsg& b, int id, bool resend) override {
    log_i("buzz seq=%u t_us=%lld id=%d%s", b.seq, static_cast<long long>(b.t_us), id, resend ? " (resend)" : "");
  }
  void on_buzz_queued(const BuzzMsg& b) override { log_i("buzz seq=%u queued (offline)", b.seq); }
  void on_press_ignored(int64_t, IgnoredWhy why) override { log_d("press ignored: %s", ignored_why_name(why)); }
  void on_rejected(TopicKind k, CodecError e) override {
    log_w("rejected %s message: %s", topic_kind_name(k), codec_error_name(e));
  }
  void on_hub_error(const HubErrorMsg& e) override { log_w("hub says %s: %s", e.code, e.message); }
  void on_config(const Pairing& p) override { log_i("paired=%d game=%s team=%s", p.paired, p.game, p.team); }
  void on_connection(bool online, uint32_t retry_ms) override {
    if (online) {
      log_i("mqtt connected");
    } else {
      log_w("mqtt down, retry in %u ms", retry_ms);
    }
  }

  bool wifi_fail_pending = false;
};

char g_id[16];
shell::Settings g_settings;
Shell g_shell;
EspClock g_clock;
EspRandom g_random;
Device* g_device = nullptr;
char g_will[32];
int64_t g_next_telemetry = 0;
int64_t g_next_frame = 0;

void start_wifi() {
  WiFi.mode(WIFI_STA);
  WiFi.setHostname(g_id);
  // Modem sleep would delay every received arm/sync by up to a DTIM interval (100–300 ms) and make the sync
  // round trips asymmetric: a buzzer trades battery for honest timing.
  WiFi.setSleep(false);
  WiFi.setAutoReconnect(true);
  WiFi.begin(g_settings.wifi_ssid, g_settings.wifi_pass);
}

void handle_net_events() {
  static shell::NetEvent e;  // large: keep it off the loop stack
  while (shell::mqtt_pop(e)) {
    switch (e.kind) {
      case shell::NetKind::Connected: g_device->connected(e.t_us); break;
      case shell::NetKind::Disconnected: g_device->disconnected(e.t_us); break;
      case shell::NetKind::Data: g_device->message(e.topic, e.data, e.data_len, e.t_us); break;
      case shell::NetKind::Published: g_device->published(e.msg_id); break;
      case shell::NetKind::Subscribed: break;
      case shell::NetKind::Error: log_w("mqtt transport error"); break;
    }
  }
}

}  // namespace

void setup() {
  Serial.begin(115200);
  shell::device_id(g_id);
  shell::led_begin();
  shell::piezo_begin();
  g_settings = shell::load_settings();

  // Setup mode: nothing stored yet, or the button held for 3 s at power-on.
  pinMode(QH_PIN_BUTTON, INPUT_PULLUP);
  bool held = shell::button_held();
  const uint32_t t0 = millis();
  while (held && millis() - t0 < 3000) held = shell::button_held();
  if (!g_settings.provisioned() || held) shell::run_setup_portal(g_id, g_settings);

  const uint32_t boot = shell::next_boot_counter();
  Serial.printf("Quizhub buzzer %s fw %s boot %u\n", g_id, QH_FW_VERSION, boot);

  static DeviceConfig cfg;
  cfg.root = g_settings.root;
  cfg.device_id = g_id;
  cfg.fw = QH_FW_VERSION;
  cfg.boot = boot;
  static Pairing restored;
  const bool has_pairing = shell::load_pairing(restored);
  static Device device(cfg, g_shell, g_clock, g_random, has_pairing ? &restored : nullptr);
  g_device = &device;
  if (!device.valid()) {
    Serial.println("invalid topic root in settings; type 'set root quizhub' then 'save'");
  }

  const size_t will_len = device.will_payload(g_will, sizeof g_will);
  const shell::MqttOptions mo{g_settings.broker_host, g_settings.broker_port, g_id, g_settings.device_password,
                              device.will_topic(), g_will, will_len, 15};
  TaskHandle_t self = xTaskGetCurrentTaskHandle();
  shell::mqtt_begin(mo, self);
  shell::button_begin(self);
  start_wifi();
  device.start(esp_timer_get_time());
}

void loop() {
  // Sleep until an ISR edge or an MQTT event notifies us, or 10 ms pass (LED frames, piezo steps, ticks).
  ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(10));

  shell::Edge edge;
  while (shell::button_pop(edge)) g_device->button_edge(edge.down, edge.t_us);
  handle_net_events();

  const int64_t now = esp_timer_get_time();
  static bool wifi_was_up = false;
  const bool wifi_up = WiFi.status() == WL_CONNECTED;
  if (wifi_up && !wifi_was_up) g_device->link_up(now);
  wifi_was_up = wifi_up;
  if (g_shell.wifi_fail_pending) {
    g_shell.wifi_fail_pending = false;
    g_device->disconnected(now);
  }
  g_device->tick(now);

  if (now >= g_next_telemetry) {
    g_next_telemetry = now + 30000000;
    const int32_t mv = shell::battery_mv();
    const bool wifi = WiFi.status() == WL_CONNECTED;
    g_device->set_telemetry(wifi, wifi ? WiFi.RSSI() : 0, mv >= 0, mv);
  }
  if (now >= g_next_frame) {
    g_next_frame = now + 20000;
    shell::led_render(now);
  }
  shell::piezo_service(now);
  shell::serial_console_poll(g_settings, g_id);
}
