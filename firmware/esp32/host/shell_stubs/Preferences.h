#pragma once
#include <cstddef>
#include <cstdint>
class Preferences {
 public:
  bool begin(const char*, bool readOnly = false);
  void end();
  bool clear();
  bool isKey(const char*);
  size_t getString(const char*, char*, size_t);
  size_t putString(const char*, const char*);
  uint16_t getUShort(const char*, uint16_t);
  size_t putUShort(const char*, uint16_t);
  uint32_t getUInt(const char*, uint32_t);
  size_t putUInt(const char*, uint32_t);
  bool getBool(const char*, bool);
  size_t putBool(const char*, bool);
};
