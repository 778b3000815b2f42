// Quizhub device codec: the JSON payloads of the device topics (DESIGN §3), nothing else.
//
// Pure: no I/O, no clock, no heap. Encoders write into a buffer the caller owns and return the number of bytes
// written, or 0 when the buffer is too small (the buffer is then left NUL-terminated and never overrun).
// Decoders read a (pointer, length) span that need not be NUL-terminated, accept any key order and JSON
// whitespace, ignore unknown keys (forward compatibility: the hub may add fields), and reject everything else with
// a CodecError. A decoder fills its output only on success.
#pragma once

#include <cstddef>
#include <cstdint>

namespace quizhub {

/// Why a payload was rejected. The peer (hub) is at fault for every one of these; the device logs and drops.
enum class CodecError : uint8_t {
  Ok = 0,
  Empty,          // zero bytes, or only whitespace
  NotObject,      // top-level value is not a JSON object
  Syntax,         // not JSON: missing colon/comma/brace, bad literal, trailing bytes
  BadString,      // unterminated string, bad escape, raw control character, invalid \u
  BadNumber,      // malformed number, or an integer field with a fraction/exponent or out of int64 range
  TooDeep,        // nesting deeper than kMaxDepth (unknown keys may hold nested values)
  TooManyKeys,    // more than kMaxKeys members
  DuplicateKey,   // the same key twice: ambiguous, so refused
  MissingField,   // a required key is absent
  WrongType,      // a known key holds the wrong JSON type
  TooLong,        // a string value does not fit its field
  BadValue,       // well-formed but not allowed: unknown cmd, id with '/', '+' or '#', bad colour
};

/// A stable lower-case name for logs and the host twin's stdout ("bad_string").
const char* codec_error_name(CodecError e);

constexpr size_t kMaxDepth = 8;
constexpr size_t kMaxKeys = 16;
constexpr size_t kIdCap = 65;     // device, game and team ids (the hub allows 64 bytes), including the NUL
constexpr size_t kTextCap = 96;   // free text (hub error message), including NUL

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

// ---- messages the device sends -------------------------------------------------------------------------------

struct StatusMsg {
  bool online = true;       // false encodes the Will / goodbye payload {"state":"offline"}
  const char* fw = "";      // firmware version, e.g. "1.0.0"
  bool has_rssi = false;
  int32_t rssi = 0;         // dBm
  bool has_battery = false;
  int32_t battery_mv = 0;
  bool has_boot = false;
  uint32_t boot = 0;        // lets the hub reset this device's clock model on a reboot
};

struct BuzzMsg {
  uint32_t seq = 0;   // per boot, +1 per buzz
  uint32_t boot = 0;  // boot counter (NVS / file / flag)
  int64_t t_us = 0;   // press time on the device's monotonic µs clock, captured in the ISR
  bool operator==(const BuzzMsg& o) const { return seq == o.seq && boot == o.boot && t_us == o.t_us; }
};

struct SyncReplyMsg {
  int64_t n = 0;
  int64_t t1 = 0;  // hub µs, echoed
  int64_t t2 = 0;  // device µs at receipt
  int64_t t3 = 0;  // device µs at send
  bool has_boot = false;
  uint32_t boot = 0;  // a sample from another boot belongs to another clock
};

size_t encode_status(const StatusMsg& m, char* buf, size_t cap);
size_t encode_buzz(const BuzzMsg& m, char* buf, size_t cap);
size_t encode_sync_reply(const SyncReplyMsg& m, char* buf, size_t cap);

// ---- messages the device receives ----------------------------------------------------------------------------

struct SyncMsg {
  int64_t n = 0;
  int64_t t1 = 0;
};

enum class CmdKind : uint8_t { Config, Identify, Win, Lock, Arm, Reset, Unpair };
const char* cmd_kind_name(CmdKind k);

/// A command on {root}/devices/{dev}/cmd or {root}/games/{game}/buzzers.
struct CmdMsg {
  CmdKind kind = CmdKind::Reset;
  bool has_q = false;
  int64_t q = 0;                 // question number (arm/lock)
  bool has_winner = false;
  char winner[kIdCap] = {};      // lock: the winning device id
  bool has_game = false;
  char game[kIdCap] = {};        // config
  bool has_team = false;
  char team[kIdCap] = {};        // config
  bool has_color = false;
  Rgb color;                     // config: "#rgb" or "#rrggbb"
  bool has_duration_ms = false;
  int64_t duration_ms = 0;       // identify: 1..60000
  bool excluded = false;         // buzzers arm: my team is in "locked_out" (re-open after a wrong answer)
};

/// {"code":"...","message":"..."} on {root}/devices/{dev}/error.
struct HubErrorMsg {
  char code[kIdCap] = {};
  char message[kTextCap] = {};
};

CodecError decode_sync(const char* p, size_t n, SyncMsg& out);
/// Device commands: config, identify, win, lock, arm, reset, unpair.
CodecError decode_cmd(const char* p, size_t n, CmdMsg& out);
/// Game broadcast: arm, lock, reset only. my_team (may be null/empty) is looked up in an arm's "locked_out"
/// array of team ids, setting out.excluded.
CodecError decode_buzzers(const char* p, size_t n, CmdMsg& out, const char* my_team = nullptr);
CodecError decode_hub_error(const char* p, size_t n, HubErrorMsg& out);

/// Encoders for the messages the hub sends; used by tests (round trips) and tools, not by the device.
size_t encode_sync(const SyncMsg& m, char* buf, size_t cap);
size_t encode_cmd(const CmdMsg& m, char* buf, size_t cap);
CodecError decode_buzz(const char* p, size_t n, BuzzMsg& out);
CodecError decode_sync_reply(const char* p, size_t n, SyncReplyMsg& out);

/// True when s can be one topic level: 1..kIdCap-1 bytes of printable ASCII without '/', '+', '#'.
bool valid_topic_id(const char* s);
/// "#rgb" / "#rrggbb" → Rgb.
bool parse_color(const char* s, size_t n, Rgb& out);
/// Rgb → "#rrggbb" (8 bytes with NUL).
void format_color(const Rgb& c, char out[8]);

}  // namespace quizhub
