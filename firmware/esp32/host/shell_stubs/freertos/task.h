#pragma once
#include "FreeRTOS.h"
void vTaskNotifyGiveFromISR(TaskHandle_t, BaseType_t*);
BaseType_t xTaskNotifyGive(TaskHandle_t);
uint32_t ulTaskNotifyTake(BaseType_t, TickType_t);
TaskHandle_t xTaskGetCurrentTaskHandle();
