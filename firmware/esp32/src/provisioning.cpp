#include "provisioning.h"

#include <Arduino.h>
#include <DNSServer.h>
#include <WebServer.h>
#include <WiFi.h>
#include <esp_timer.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hardware.h"

namespace shell {
namespace {

void copy(char* out, size_t cap, const String& v) {
  std::strncpy(out, v.c_str(), cap - 1);
  out[cap - 1] = '\0';
}

String html_escape(const char* s) {
  String o;
  for (; *s; ++s) {
    switch (*s) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += *s;
    }
  }
  return o;
}

String page(const char* id, const Settings& s, const char* note) {
  String h;
  h.reserve(2048);
  h += F("<!doctype html><meta name=viewport content='width=device-width'><title>Quizhub buzzer</title>"
         "<style>body{font-family:sans-serif;max-width:28em;margin:1em auto;padding:0 1em}"
         "label{display:block;margin-top:.8em}input{width:100%;font-size:1.1em}</style>");
  h += "<h1>Buzzer ";
  h += html_escape(id);
  h += "</h1><p>";
  h += note;
  h += F("</p><form method=post action=/save>");
  h += "<label>Wi-Fi name<input name=ssid required value=\"" + html_escape(s.wifi_ssid) + "\"></label>";
  h += F("<label>Wi-Fi password<input name=wifi_pass type=password placeholder='(unchanged if empty)'></label>");
  h += "<label>Quizhub box address (broker host)<input name=host required value=\"" + html_escape(s.broker_host) +
       "\"></label>";
  h += "<label>Broker port<input name=port type=number value=" + String(s.broker_port) + "></label>";
  h += "<label>Topic root<input name=root value=\"" + html_escape(s.root) + "\"></label>";
  h += F("<label>Device password (from <code>quizhub credentials add ");
  h += html_escape(id);
  h += F(" --role device</code>)<input name=password type=password placeholder='(unchanged if empty)'></label>"
         "<p><button>Save and restart</button></form>");
  return h;
}

}  // namespace

[[noreturn]] void run_setup_portal(const char* device_id, Settings current) {
  char ap[32];
  std::snprintf(ap, sizeof ap, "Quizhub-%s", device_id);
  WiFi.mode(WIFI_AP);
  WiFi.softAP(ap);  // open network, only up while the owner is setting the buzzer up
  DNSServer dns;
  dns.start(53, "*", WiFi.softAPIP());  // every name resolves to us: phones show the captive page
  WebServer web(80);
  static Settings* s = &current;
  static const char* id = device_id;
  static WebServer* w = &web;
  web.on("/save", HTTP_POST, [] {
    copy(s->wifi_ssid, sizeof s->wifi_ssid, w->arg("ssid"));
    if (w->arg("wifi_pass").length() > 0) copy(s->wifi_pass, sizeof s->wifi_pass, w->arg("wifi_pass"));
    copy(s->broker_host, sizeof s->broker_host, w->arg("host"));
    const long port = w->arg("port").toInt();
    s->broker_port = static_cast<uint16_t>(port > 0 && port < 65536 ? port : 1883);
    if (w->arg("root").length() > 0) copy(s->root, sizeof s->root, w->arg("root"));
    if (w->arg("password").length() > 0) copy(s->device_password, sizeof s->device_password, w->arg("password"));
    if (!s->provisioned()) {
      w->send(400, "text/html", page(id, *s, "Wi-Fi name and broker host are required."));
      return;
    }
    save_settings(*s);
    w->send(200, "text/html", "<p>Saved. The buzzer restarts and joins your Wi-Fi.</p>");
    delay(500);
    ESP.restart();
  });
  web.onNotFound([] { w->send(200, "text/html", page(id, *s, "Enter your network and Quizhub box.")); });
  web.begin();
  Serial.printf("setup: join Wi-Fi '%s' and open http://%s/\n", ap, WiFi.softAPIP().toString().c_str());
  for (;;) {
    dns.processNextRequest();
    web.handleClient();
    serial_console_poll(current, device_id);
    const int64_t now = esp_timer_get_time();
    const uint8_t lvl = static_cast<uint8_t>(((now / 10000) % 200) < 100 ? (now / 10000) % 100 : 100 - (now / 10000) % 100);
    led_solid(lvl, lvl, lvl);
    delay(5);
  }
}

void serial_console_poll(Settings& s, const char* device_id) {
  static char line[160];
  static size_t n = 0;
  while (Serial.available() > 0) {
    const char c = static_cast<char>(Serial.read());
    if (c != '\n' && c != '\r') {
      if (n + 1 < sizeof line) line[n++] = c;
      continue;
    }
    if (n == 0) continue;
    line[n] = '\0';
    n = 0;
    char key[24] = {};
    const char* value = "";
    if (std::strncmp(line, "set ", 4) == 0) {
      const char* sp = std::strchr(line + 4, ' ');
      if (sp != nullptr) {
        std::strncpy(key, line + 4, std::min<size_t>(sizeof key - 1, static_cast<size_t>(sp - (line + 4))));
        value = sp + 1;
      }
    }
    if (std::strcmp(line, "show") == 0) {
      Serial.printf("id=%s ssid=%s host=%s port=%u root=%s password=%s\n", device_id, s.wifi_ssid, s.broker_host,
                    s.broker_port, s.root, s.device_password[0] ? "(set)" : "(none)");
    } else if (std::strcmp(key, "ssid") == 0) {
      copy(s.wifi_ssid, sizeof s.wifi_ssid, value);
    } else if (std::strcmp(key, "wifi_pass") == 0) {
      copy(s.wifi_pass, sizeof s.wifi_pass, value);
    } else if (std::strcmp(key, "host") == 0) {
      copy(s.broker_host, sizeof s.broker_host, value);
    } else if (std::strcmp(key, "port") == 0) {
      s.broker_port = static_cast<uint16_t>(std::atoi(value));
    } else if (std::strcmp(key, "root") == 0) {
      copy(s.root, sizeof s.root, value);
    } else if (std::strcmp(key, "password") == 0) {
      copy(s.device_password, sizeof s.device_password, value);
    } else if (std::strcmp(line, "save") == 0) {
      save_settings(s);
      Serial.println("saved; restarting");
      delay(200);
      ESP.restart();
    } else if (std::strcmp(line, "factory-reset") == 0) {
      factory_reset();
      Serial.println("erased; restarting");
      delay(200);
      ESP.restart();
    } else if (std::strcmp(line, "reboot") == 0) {
      ESP.restart();
    } else {
      Serial.println("commands: show | set ssid|wifi_pass|host|port|root|password <value> | save | factory-reset | reboot");
      continue;
    }
    if (key[0] != '\0') Serial.printf("%s set (not saved yet: type 'save')\n", key);
  }
}

}  // namespace shell
