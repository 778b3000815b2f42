#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include "esp_idf_version.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#define ESP_ARDUINO_VERSION_MAJOR 2
#define IRAM_ATTR
#define F(s) (s)
#define HIGH 1
#define LOW 0
#define INPUT_PULLUP 0x05
#define CHANGE 0x03
typedef int gpio_num_t;
int gpio_get_level(gpio_num_t);
void pinMode(uint8_t, uint8_t);
int digitalRead(uint8_t);
int digitalPinToInterrupt(int);
void attachInterrupt(uint8_t, void (*)(void), int);
uint32_t millis();
void delay(uint32_t);
uint32_t analogReadMilliVolts(uint8_t);
double ledcSetup(uint8_t, double, uint8_t);
void ledcAttachPin(uint8_t, uint8_t);
void ledcWrite(uint8_t, uint32_t);
double ledcWriteTone(uint8_t, double);
uint32_t esp_random();
class String {
 public:
  String(const char* = "");
  String(int);
  String& operator+=(const char*);
  String& operator+=(char);
  String& operator+=(const String&);
  friend String operator+(const String&, const String&);
  friend String operator+(const String&, const char*);
  friend String operator+(const char*, const String&);
  void reserve(unsigned);
  unsigned length() const;
  long toInt() const;
  const char* c_str() const;
};
class HardwareSerial {
 public:
  void begin(unsigned long);
  int available();
  int read();
  size_t println(const char*);
  size_t printf(const char*, ...) __attribute__((format(printf, 2, 3)));
};
extern HardwareSerial Serial;
#define log_i(fmt, ...) std::printf(fmt, ##__VA_ARGS__)
#define log_w(fmt, ...) std::printf(fmt, ##__VA_ARGS__)
#define log_d(fmt, ...) std::printf(fmt, ##__VA_ARGS__)
#include "Esp.h"
