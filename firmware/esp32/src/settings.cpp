#include "settings.h"

#include <Esp.h>
#include <Preferences.h>

#include <cstdio>
#include <cstring>

namespace shell {
namespace {

constexpr const char* kNs = "quizhub";

void get_str(Preferences& p, const char* key, char* out, size_t cap) {
  if (p.isKey(key)) p.getString(key, out, cap);
}

}  // namespace

Settings load_settings() {
  Settings s;
  Preferences p;
  p.begin(kNs, true);
  get_str(p, "ssid", s.wifi_ssid, sizeof s.wifi_ssid);
  get_str(p, "wpass", s.wifi_pass, sizeof s.wifi_pass);
  get_str(p, "host", s.broker_host, sizeof s.broker_host);
  s.broker_port = p.getUShort("port", 1883);
  get_str(p, "root", s.root, sizeof s.root);
  get_str(p, "dpass", s.device_password, sizeof s.device_password);
  p.end();
  return s;
}

void save_settings(const Settings& s) {
  Preferences p;
  p.begin(kNs, false);
  p.putString("ssid", s.wifi_ssid);
  p.putString("wpass", s.wifi_pass);
  p.putString("host", s.broker_host);
  p.putUShort("port", s.broker_port);
  p.putString("root", s.root);
  p.putString("dpass", s.device_password);
  p.end();
}

void factory_reset() {
  Preferences p;
  p.begin(kNs, false);
  p.clear();
  p.end();
}

uint32_t next_boot_counter() {
  Preferences p;
  p.begin(kNs, false);
  const uint32_t boot = p.getUInt("boot", 0) + 1;
  p.putUInt("boot", boot);
  p.end();
  return boot;
}

bool load_pairing(quizhub::Pairing& out) {
  Preferences p;
  p.begin(kNs, true);
  quizhub::Pairing pr;
  pr.paired = p.getBool("paired", false);
  get_str(p, "game", pr.game, sizeof pr.game);
  get_str(p, "team", pr.team, sizeof pr.team);
  pr.has_color = p.getBool("hascolor", false);
  const uint32_t rgb = p.getUInt("color", 0xFFFFFF);
  pr.color = quizhub::Rgb{static_cast<uint8_t>(rgb >> 16), static_cast<uint8_t>(rgb >> 8), static_cast<uint8_t>(rgb)};
  p.end();
  if (!pr.paired) return false;
  out = pr;
  return true;
}

void save_pairing(const quizhub::Pairing& pr) {
  Preferences p;
  p.begin(kNs, false);
  p.putBool("paired", pr.paired);
  p.putString("game", pr.game);
  p.putString("team", pr.team);
  p.putBool("hascolor", pr.has_color);
  p.putUInt("color", (uint32_t{pr.color.r} << 16) | (uint32_t{pr.color.g} << 8) | pr.color.b);
  p.end();
}

void device_id(char out[16]) {
  // Factory base MAC from eFuse; byte 0 of the MAC is the least significant byte of the returned value.
  const uint64_t mac = ESP.getEfuseMac();
  const auto byte = [mac](int i) { return static_cast<unsigned>((mac >> (8 * i)) & 0xFFu); };
  std::snprintf(out, 16, "qb-%02x%02x%02x", byte(3), byte(4), byte(5));
}

}  // namespace shell
