#pragma once
#include <cstdint>
class EspClass {
 public:
  uint64_t getEfuseMac();
  [[noreturn]] void restart();
};
extern EspClass ESP;
