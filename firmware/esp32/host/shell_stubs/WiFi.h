#pragma once
#include "Arduino.h"
enum wl_status_t { WL_IDLE_STATUS = 0, WL_CONNECTED = 3 };
enum wifi_mode_t { WIFI_OFF = 0, WIFI_STA, WIFI_AP };
class IPAddress {
 public:
  String toString() const;
};
class WiFiClass {
 public:
  bool mode(wifi_mode_t);
  bool setHostname(const char*);
  bool setSleep(bool);
  bool setAutoReconnect(bool);
  wl_status_t begin(const char*, const char*);
  wl_status_t status();
  int8_t RSSI();
  bool softAP(const char*);
  IPAddress softAPIP();
};
extern WiFiClass WiFi;
