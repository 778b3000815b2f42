// esp-mqtt (the ESP-IDF MQTT client bundled with Arduino-ESP32) as the buzzer's transport.
//
// Threading: esp-mqtt runs its own task and calls our event handler there. The handler only copies what
// happened (with esp_timer_get_time() taken first, for sync t2) into a queue and wakes the loop task;
// the loop task pops events and feeds the core. Publishing/subscribing from the loop task is safe:
// esp_mqtt_client_publish/subscribe take the client's lock.
//
// Reconnects: esp-mqtt's own auto-reconnect is disabled; the core's jittered backoff decides when to call
// connect() again.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shell {

enum class NetKind : uint8_t { Connected, Disconnected, Data, Published, Subscribed, Error };

struct NetEvent {
  NetKind kind;
  int64_t t_us;  // esp_timer_get_time() when the handler ran
  int msg_id;
  uint16_t topic_len;
  uint16_t data_len;
  char topic[160];
  char data[512];  // device payloads are < 200 bytes; larger or fragmented ones are dropped and logged
};

struct MqttOptions {
  const char* host;
  uint16_t port;
  const char* client_id;  // = username = device id
  const char* password;
  const char* will_topic;
  const char* will_payload;
  size_t will_len;
  int keepalive_s;
};

/// Creates the client (does not connect yet).
bool mqtt_begin(const MqttOptions& opts, void* notify_task);
/// Starts one connection attempt (the first call starts the client task).
void mqtt_connect();
int mqtt_publish(const char* topic, const char* payload, size_t len, int qos, bool retain);
void mqtt_subscribe(const char* topic, int qos);
void mqtt_unsubscribe(const char* topic);
/// Pops the oldest event; false when none. Loop task only.
bool mqtt_pop(NetEvent& out);
/// Clean stop (DISCONNECT): the broker discards the Will.
void mqtt_stop();

}  // namespace shell
