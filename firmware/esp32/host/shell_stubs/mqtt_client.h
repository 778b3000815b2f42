#pragma once
#include <cstdint>
typedef int esp_err_t;
#define ESP_OK 0
typedef const char* esp_event_base_t;
#define ESP_EVENT_ANY_ID -1
typedef void (*esp_event_handler_t)(void*, esp_event_base_t, int32_t, void*);
typedef struct esp_mqtt_client* esp_mqtt_client_handle_t;
typedef enum {
  MQTT_EVENT_ANY = -1, MQTT_EVENT_ERROR = 0, MQTT_EVENT_CONNECTED, MQTT_EVENT_DISCONNECTED, MQTT_EVENT_SUBSCRIBED,
  MQTT_EVENT_UNSUBSCRIBED, MQTT_EVENT_PUBLISHED, MQTT_EVENT_DATA, MQTT_EVENT_BEFORE_CONNECT
} esp_mqtt_event_id_t;
typedef enum { MQTT_TRANSPORT_UNKNOWN = 0, MQTT_TRANSPORT_OVER_TCP } esp_mqtt_transport_t;
typedef struct {
  esp_mqtt_event_id_t event_id;
  esp_mqtt_client_handle_t client;
  char* data;
  int data_len;
  int total_data_len;
  int current_data_offset;
  char* topic;
  int topic_len;
  int msg_id;
} esp_mqtt_event_t;
typedef esp_mqtt_event_t* esp_mqtt_event_handle_t;
typedef struct {  // ESP-IDF 4.4 layout (flat)
  const char* host;
  uint32_t port;
  const char* client_id;
  const char* username;
  const char* password;
  const char* lwt_topic;
  const char* lwt_msg;
  int lwt_qos;
  int lwt_retain;
  int lwt_msg_len;
  int keepalive;
  bool disable_auto_reconnect;
  int buffer_size;
  esp_mqtt_transport_t transport;
  int network_timeout_ms;
} esp_mqtt_client_config_t;
esp_mqtt_client_handle_t esp_mqtt_client_init(const esp_mqtt_client_config_t*);
esp_err_t esp_mqtt_client_register_event(esp_mqtt_client_handle_t, esp_mqtt_event_id_t, esp_event_handler_t, void*);
esp_err_t esp_mqtt_client_start(esp_mqtt_client_handle_t);
esp_err_t esp_mqtt_client_reconnect(esp_mqtt_client_handle_t);
esp_err_t esp_mqtt_client_disconnect(esp_mqtt_client_handle_t);
esp_err_t esp_mqtt_client_stop(esp_mqtt_client_handle_t);
int esp_mqtt_client_publish(esp_mqtt_client_handle_t, const char*, const char*, int, int, int);
int esp_mqtt_client_subscribe(esp_mqtt_client_handle_t, const char*, int);
int esp_mqtt_client_unsubscribe(esp_mqtt_client_handle_t, const char*);
