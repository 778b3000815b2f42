// Button, LED and piezo. The ISR only timestamps edges; rendering follows the core's pattern functions.
#pragma once

#include <cstdint>

#include "commands.h"

namespace shell {

struct Edge {
  int64_t t_us;  // esp_timer_get_time() inside the ISR
  bool down;     // level after the edge: true = pressed (pin pulled to GND)
};

/// Configures the GPIO interrupt; edges wake `notify_task` (the loop task) through a task notification.
void button_begin(void* notify_task);
/// Pops the oldest edge captured by the ISR; false when none. Called from the loop task only.
bool button_pop(Edge& out);
/// True while the button is held (for "hold at boot to enter setup").
bool button_held();

void led_begin();
void led_set(const quizhub::LedCommand& cmd, int64_t now_us);
/// Re-renders the current pattern (call at ~50 Hz).
void led_render(int64_t now_us);
void led_solid(uint8_t r, uint8_t g, uint8_t b);

void piezo_begin();
void piezo_play(quizhub::PiezoPattern p, int64_t now_us);
/// Advances the tone sequence (call every loop).
void piezo_service(int64_t now_us);

/// Battery voltage in mV, or -1 when the board has no battery sense.
int32_t battery_mv();

}  // namespace shell
