#include "transport_mqtt.h"

#include <esp_idf_version.h>
#include <esp_log.h>
#include <esp_timer.h>
#include <freertos/FreeRTOS.h>
#include <freertos/queue.h>
#include <freertos/task.h>
#include <mqtt_client.h>

#include <cstring>

namespace shell {
namespace {

constexpr const char* kTag = "qh-mqtt";
esp_mqtt_client_handle_t g_client = nullptr;
QueueHandle_t g_events = nullptr;
TaskHandle_t g_notify = nullptr;
bool g_started = false;

void post(const NetEvent& e) {
  // Never block the MQTT task: if the loop is that far behind, dropping is the lesser evil (a dropped Data
  // event is a lost command; the hub repeats config on connect and sync pings are periodic).
  if (xQueueSend(g_events, &e, 0) != pdTRUE) ESP_LOGW(kTag, "event queue full, dropped kind %d", int(e.kind));
  if (g_notify != nullptr) xTaskNotifyGive(g_notify);
}

void handler(void*, esp_event_base_t, int32_t event_id, void* event_data) {
  const int64_t t = esp_timer_get_time();  // first: this is the sync t2
  auto* ev = static_cast<esp_mqtt_event_handle_t>(event_data);
  static NetEvent e;  // MQTT task only; too big for its stack
  std::memset(&e, 0, offsetof(NetEvent, topic));
  e.t_us = t;
  e.msg_id = ev->msg_id;
  switch (static_cast<esp_mqtt_event_id_t>(event_id)) {
    case MQTT_EVENT_CONNECTED: e.kind = NetKind::Connected; break;
    case MQTT_EVENT_DISCONNECTED: e.kind = NetKind::Disconnected; break;
    case MQTT_EVENT_PUBLISHED: e.kind = NetKind::Published; break;
    case MQTT_EVENT_SUBSCRIBED: e.kind = NetKind::Subscribed; break;
    case MQTT_EVENT_ERROR: e.kind = NetKind::Error; break;
    case MQTT_EVENT_DATA:
      if (ev->current_data_offset != 0 || ev->data_len != ev->total_data_len ||
          ev->topic_len >= static_cast<int>(sizeof e.topic) || ev->data_len > static_cast<int>(sizeof e.data)) {
        ESP_LOGW(kTag, "dropping oversized/fragmented message (%d bytes)", ev->total_data_len);
        return;
      }
      e.kind = NetKind::Data;
      e.topic_len = static_cast<uint16_t>(ev->topic_len);
      e.data_len = static_cast<uint16_t>(ev->data_len);
      std::memcpy(e.topic, ev->topic, e.topic_len);
      e.topic[e.topic_len] = '\0';
      std::memcpy(e.data, ev->data, e.data_len);
      break;
    default:
      return;
  }
  post(e);
}

}  // namespace

bool mqtt_begin(const MqttOptions& o, void* notify_task) {
  g_notify = static_cast<TaskHandle_t>(notify_task);
  g_events = xQueueCreate(8, sizeof(NetEvent));
  if (g_events == nullptr) return false;
  esp_mqtt_client_config_t cfg = {};
#if ESP_IDF_VERSION_MAJOR >= 5
  cfg.broker.address.hostname = o.host;
  cfg.broker.address.port = o.port;
  cfg.broker.address.transport = MQTT_TRANSPORT_OVER_TCP;
  cfg.credentials.client_id = o.client_id;
  cfg.credentials.username = o.client_id;
  cfg.credentials.authentication.password = o.password;
  cfg.session.keepalive = o.keepalive_s;
  cfg.session.last_will.topic = o.will_topic;
  cfg.session.last_will.msg = o.will_payload;
  cfg.session.last_will.msg_len = static_cast<int>(o.will_len);
  cfg.session.last_will.qos = 1;
  cfg.session.last_will.retain = 1;
  cfg.network.disable_auto_reconnect = true;
  cfg.network.timeout_ms = 5000;
  cfg.buffer.size = 1024;
#else
  cfg.host = o.host;
  cfg.port = o.port;
  cfg.transport = MQTT_TRANSPORT_OVER_TCP;
  cfg.client_id = o.client_id;
  cfg.username = o.client_id;
  cfg.password = o.password;
  cfg.keepalive = o.keepalive_s;
  cfg.lwt_topic = o.will_topic;
  cfg.lwt_msg = o.will_payload;
  cfg.lwt_msg_len = static_cast<int>(o.will_len);
  cfg.lwt_qos = 1;
  cfg.lwt_retain = 1;
  cfg.disable_auto_reconnect = true;
  cfg.network_timeout_ms = 5000;
  cfg.buffer_size = 1024;
#endif
  g_client = esp_mqtt_client_init(&cfg);
  if (g_client == nullptr) return false;
  esp_mqtt_client_register_event(g_client, static_cast<esp_mqtt_event_id_t>(ESP_EVENT_ANY_ID), handler, nullptr);
  return true;
}

void mqtt_connect() {
  if (!g_started) {
    g_started = esp_mqtt_client_start(g_client) == ESP_OK;
    if (!g_started) {
      NetEvent e{};
      e.kind = NetKind::Disconnected;
      e.t_us = esp_timer_get_time();
      post(e);
    }
    return;
  }
  if (esp_mqtt_client_reconnect(g_client) != ESP_OK) {
    NetEvent e{};
    e.kind = NetKind::Disconnected;
    e.t_us = esp_timer_get_time();
    post(e);
  }
}

int mqtt_publish(const char* topic, const char* payload, size_t len, int qos, bool retain) {
  return esp_mqtt_client_publish(g_client, topic, payload, static_cast<int>(len), qos, retain ? 1 : 0);
}

void mqtt_subscribe(const char* topic, int qos) { esp_mqtt_client_subscribe(g_client, topic, qos); }

void mqtt_unsubscribe(const char* topic) { esp_mqtt_client_unsubscribe(g_client, topic); }

bool mqtt_pop(NetEvent& out) { return g_events != nullptr && xQueueReceive(g_events, &out, 0) == pdTRUE; }

void mqtt_stop() {
  if (g_client != nullptr && g_started) {
    esp_mqtt_client_disconnect(g_client);
    esp_mqtt_client_stop(g_client);
    g_started = false;
  }
}

}  // namespace shell
