#pragma once
#include <cstdint>
typedef int BaseType_t;
typedef uint32_t TickType_t;
#define pdTRUE 1
#define pdFALSE 0
#define pdMS_TO_TICKS(ms) ((TickType_t)(ms))
#define portYIELD_FROM_ISR() do {} while (0)
typedef struct QueueDef* QueueHandle_t;
typedef struct TaskDef* TaskHandle_t;
