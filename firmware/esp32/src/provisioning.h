// Getting Wi-Fi, broker and the device credential onto a buzzer without a toolchain:
//  * SoftAP setup page: when nothing is stored, or the button is held for 3 s at power-on, the buzzer opens an
//    access point "Quizhub-<id>" (LED breathing white); join it with a phone, the captive page (any URL goes to
//    http://192.168.4.1/) asks for Wi-Fi, broker host/port, topic root and the device password; Save reboots.
//  * Serial setup (115200 baud), any time: `show`, `set ssid <v>`, `set wifi_pass <v>`, `set host <v>`,
//    `set port <n>`, `set root <v>`, `set password <v>`, `save` (reboots), `factory-reset`, `reboot`.
#pragma once

#include "settings.h"

namespace shell {

/// Runs the SoftAP captive portal until the user saves (then reboots). Never returns.
[[noreturn]] void run_setup_portal(const char* device_id, Settings current);

/// Feeds serial characters to the line console; call every loop. `s` is edited in place.
void serial_console_poll(Settings& s, const char* device_id);

}  // namespace shell
