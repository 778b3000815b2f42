#pragma once
#include "Arduino.h"
enum HTTPMethod { HTTP_ANY, HTTP_GET, HTTP_POST };
class WebServer {
 public:
  explicit WebServer(int);
  void on(const char*, HTTPMethod, void (*)());
  void onNotFound(void (*)());
  void begin();
  void handleClient();
  String arg(const char*);
  void send(int, const char*, const String&);
  void send(int, const char*, const char*);
};
