#pragma once
#include <cstdio>
#define ESP_LOGW(tag, fmt, ...) std::printf(fmt, ##__VA_ARGS__)
