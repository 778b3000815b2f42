// Everything the buzzer keeps across reboots, in NVS (Preferences namespace "quizhub").
#pragma once

#include <cstdint>

#include "device.h"

namespace shell {

struct Settings {
  char wifi_ssid[33] = {};
  char wifi_pass[65] = {};
  char broker_host[64] = {};
  uint16_t broker_port = 1883;
  char root[quizhub::kRootCap] = "quizhub";
  char device_password[80] = {};  // from `quizhub credentials add <id> --role device`
  bool provisioned() const { return wifi_ssid[0] != '\0' && broker_host[0] != '\0'; }
};

/// Loads settings (defaults where absent).
Settings load_settings();
void save_settings(const Settings& s);
/// Erases everything (settings, pairing, boot counter).
void factory_reset();

/// Increments and returns the persisted boot counter (1 on the first boot).
uint32_t next_boot_counter();

bool load_pairing(quizhub::Pairing& out);
void save_pairing(const quizhub::Pairing& p);

/// "qb-" + the last three bytes of the Wi-Fi MAC, e.g. "qb-a1b2c3": stable, one topic level, hub-compatible.
void device_id(char out[16]);

}  // namespace shell
