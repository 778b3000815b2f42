#include "hardware.h"

#include <Adafruit_NeoPixel.h>
#include <Arduino.h>
#include <esp_timer.h>
#include <freertos/FreeRTOS.h>
#include <freertos/queue.h>
#include <freertos/task.h>

namespace shell {
namespace {

QueueHandle_t g_edges = nullptr;
TaskHandle_t g_notify = nullptr;

// IRAM: runs even while flash is busy (NVS writes). Captures the time first, then the level, then hands off.
void IRAM_ATTR on_edge() {
  const int64_t t = esp_timer_get_time();
  const Edge e{t, gpio_get_level(static_cast<gpio_num_t>(QH_PIN_BUTTON)) == 0};
  BaseType_t woken = pdFALSE;
  xQueueSendFromISR(g_edges, &e, &woken);  // full queue: the edge is dropped; bounces are what would be lost
  if (g_notify != nullptr) vTaskNotifyGiveFromISR(g_notify, &woken);
  if (woken == pdTRUE) portYIELD_FROM_ISR();
}

Adafruit_NeoPixel g_strip(QH_LED_COUNT, QH_PIN_LED, NEO_GRB + NEO_KHZ800);
quizhub::LedCommand g_led;
int64_t g_led_since = 0;
quizhub::Rgb g_last{1, 2, 3};

constexpr int kPiezoChannel = 0;
const quizhub::Tone* g_tones = nullptr;
size_t g_tone_count = 0;
size_t g_tone_index = 0;
int64_t g_tone_until = 0;

// Arduino-ESP32 3.x addresses LEDC by pin, 2.x by channel.
#if ESP_ARDUINO_VERSION_MAJOR >= 3
constexpr int kPiezoTarget = QH_PIN_PIEZO;
#else
constexpr int kPiezoTarget = kPiezoChannel;
#endif

void tone_start(const quizhub::Tone& t, int64_t now_us) {
  if (t.hz == 0) {
    ledcWrite(kPiezoTarget, 0);
  } else {
    ledcWriteTone(kPiezoTarget, t.hz);
  }
  g_tone_until = now_us + int64_t{t.ms} * 1000;
}

}  // namespace

void button_begin(void* notify_task) {
  g_notify = static_cast<TaskHandle_t>(notify_task);
  g_edges = xQueueCreate(32, sizeof(Edge));
  pinMode(QH_PIN_BUTTON, INPUT_PULLUP);
  attachInterrupt(digitalPinToInterrupt(QH_PIN_BUTTON), on_edge, CHANGE);
}

bool button_pop(Edge& out) { return g_edges != nullptr && xQueueReceive(g_edges, &out, 0) == pdTRUE; }

bool button_held() { return digitalRead(QH_PIN_BUTTON) == LOW; }

void led_begin() {
  g_strip.begin();
  g_strip.setBrightness(160);  // a WS2812 at full white draws ~60 mA; this keeps a 1-pixel buzzer cool
  g_strip.clear();
  g_strip.show();
}

void led_solid(uint8_t r, uint8_t g, uint8_t b) {
  for (uint16_t i = 0; i < QH_LED_COUNT; ++i) g_strip.setPixelColor(i, g_strip.Color(r, g, b));
  g_strip.show();
}

void led_set(const quizhub::LedCommand& cmd, int64_t now_us) {
  g_led = cmd;
  g_led_since = now_us;
  led_render(now_us);
}

void led_render(int64_t now_us) {
  const quizhub::Rgb c = quizhub::led_frame(g_led, now_us - g_led_since);
  if (c == g_last) return;  // WS2812 show() blocks ~30 µs per pixel with interrupts off: skip no-ops
  g_last = c;
  led_solid(c.r, c.g, c.b);
}

void piezo_begin() {
#if ESP_ARDUINO_VERSION_MAJOR >= 3
  ledcAttach(QH_PIN_PIEZO, 2000, 8);
#else
  ledcSetup(kPiezoChannel, 2000, 8);
  ledcAttachPin(QH_PIN_PIEZO, kPiezoChannel);
#endif
  ledcWrite(kPiezoTarget, 0);
}

void piezo_play(quizhub::PiezoPattern p, int64_t now_us) {
  g_tones = quizhub::piezo_tones(p, g_tone_count);
  g_tone_index = 0;
  if (g_tones != nullptr && g_tone_count > 0) tone_start(g_tones[0], now_us);
}

void piezo_service(int64_t now_us) {
  if (g_tones == nullptr || now_us < g_tone_until) return;
  if (++g_tone_index >= g_tone_count) {
    ledcWrite(kPiezoTarget, 0);
    g_tones = nullptr;
    return;
  }
  tone_start(g_tones[g_tone_index], now_us);
}

int32_t battery_mv() {
#if QH_PIN_VBAT >= 0
  return static_cast<int32_t>(analogReadMilliVolts(QH_PIN_VBAT)) * QH_VBAT_DIVIDER;
#else
  return -1;
#endif
}

}  // namespace shell
