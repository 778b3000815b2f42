// JSON codec for the device topics. See codec.h for the contract.
//
// The reader is a strict RFC 8259 recogniser over a bounded span, specialised for what the device needs: one
// top-level object whose members it records as (key, type, raw value) spans in a fixed table, then typed
// extraction of the known keys. Values of unknown keys are validated and skipped, nested up to kMaxDepth.
// Nothing here allocates; every read checks the end pointer first.
#include "codec.h"

#include <cstring>

namespace quizhub {

const char* codec_error_name(CodecError e) {
  switch (e) {
    case CodecError::Ok: return "ok";
    case CodecError::Empty: return "empty";
    case CodecError::NotObject: return "not_object";
    case CodecError::Syntax: return "syntax";
    case CodecError::BadString: return "bad_string";
    case CodecError::BadNumber: return "bad_number";
    case CodecError::TooDeep: return "too_deep";
    case CodecError::TooManyKeys: return "too_many_keys";
    case CodecError::DuplicateKey: return "duplicate_key";
    case CodecError::MissingField: return "missing_field";
    case CodecError::WrongType: return "wrong_type";
    case CodecError::TooLong: return "too_long";
    case CodecError::BadValue: return "bad_value";
  }
  return "unknown";
}

const char* cmd_kind_name(CmdKind k) {
  switch (k) {
    case CmdKind::Config: return "config";
    case CmdKind::Identify: return "identify";
    case CmdKind::Win: return "win";
    case CmdKind::Lock: return "lock";
    case CmdKind::Arm: return "arm";
    case CmdKind::Reset: return "reset";
    case CmdKind::Unpair: return "unpair";
  }
  return "?";
}

namespace {

// ================================================================ writer

class Writer {
 public:
  Writer(char* buf, size_t cap) : buf_(buf), cap_(cap) {
    if (cap_ > 0) buf_[0] = '\0';
  }
  void raw(const char* s) {
    while (*s) put(*s++);
  }
  void put(char c) {
    // Keep one byte for the NUL; once full, stay failed.
    if (ok_ && len_ + 1 < cap_) {
      buf_[len_++] = c;
    } else {
      ok_ = false;
    }
  }
  void integer(int64_t v) {
    char tmp[24];
    size_t n = 0;
    // Work in unsigned so INT64_MIN is representable.
    uint64_t u = v < 0 ? (~static_cast<uint64_t>(v) + 1u) : static_cast<uint64_t>(v);
    do {
      tmp[n++] = static_cast<char>('0' + (u % 10u));
      u /= 10u;
    } while (u != 0u);
    if (v < 0) put('-');
    while (n > 0) put(tmp[--n]);
  }
  void string(const char* s) {
    static const char kHex[] = "0123456789abcdef";
    put('"');
    for (; *s; ++s) {
      const auto c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') {
        put('\\');
        put(static_cast<char>(c));
      } else if (c < 0x20) {
        raw("\\u00");
        put(kHex[c >> 4]);
        put(kHex[c & 0xF]);
      } else {
        put(static_cast<char>(c));
      }
    }
    put('"');
  }
  void key(const char* k, bool first) {
    if (!first) put(',');
    put('"');
    raw(k);
    raw("\":");
  }
  size_t finish() {
    if (cap_ == 0) return 0;
    if (!ok_) {
      buf_[0] = '\0';
      return 0;
    }
    buf_[len_] = '\0';
    return len_;
  }

 private:
  char* buf_;
  size_t cap_;
  size_t len_ = 0;
  bool ok_ = true;
};

// ================================================================ reader

enum class JType : uint8_t { String, Number, True, False, Null, Object, Array };

struct Span {
  const char* p = nullptr;
  size_t n = 0;
};

struct Member {
  Span key;    // raw bytes between the quotes (escapes not yet decoded)
  JType type;
  Span val;    // strings: raw bytes between the quotes; numbers: the token; others: the whole value
};

struct Object {
  Member m[kMaxKeys];
  size_t count = 0;
};

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Streams the bytes of an already-validated raw JSON string, decoding escapes to UTF-8.
class Unescaper {
 public:
  explicit Unescaper(Span s) : p_(s.p), end_(s.p + s.n) {}
  /// Next decoded byte, or -1 at the end.
  int next() {
    if (head_ < npend_) return pend_[head_++];
    head_ = npend_ = 0;
    if (p_ >= end_) return -1;
    const char c = *p_++;
    if (c != '\\') return static_cast<unsigned char>(c);
    const char e = *p_++;
    switch (e) {
      case 'b': return '\b';
      case 'f': return '\f';
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'u': break;
      default: return static_cast<unsigned char>(e);  // " \ /
    }
    uint32_t cp = hex4();
    if (cp >= 0xD800 && cp <= 0xDBFF) {  // validated: a low surrogate follows
      p_ += 2;
      const uint32_t lo = hex4();
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    encode_utf8(cp);
    return pend_[head_++];
  }

 private:
  uint32_t hex4() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 4) | static_cast<uint32_t>(hexval(*p_++));
    return v;
  }
  void encode_utf8(uint32_t cp) {
    if (cp < 0x80) {
      pend_[npend_++] = static_cast<uint8_t>(cp);
    } else if (cp < 0x800) {
      pend_[npend_++] = static_cast<uint8_t>(0xC0 | (cp >> 6));
      pend_[npend_++] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      pend_[npend_++] = static_cast<uint8_t>(0xE0 | (cp >> 12));
      pend_[npend_++] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      pend_[npend_++] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    } else {
      pend_[npend_++] = static_cast<uint8_t>(0xF0 | (cp >> 18));
      pend_[npend_++] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
      pend_[npend_++] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      pend_[npend_++] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    }
  }
  const char* p_;
  const char* end_;
  uint8_t pend_[4] = {};
  int npend_ = 0;
  int head_ = 0;
};

bool raw_equal(Span a, Span b) {
  Unescaper ua(a), ub(b);
  for (;;) {
    const int x = ua.next();
    const int y = ub.next();
    if (x != y) return false;
    if (x < 0) return true;
  }
}

/// Raw JSON string bytes vs a plain C string (compared after unescaping the former).
bool raw_equal(Span a, const char* plain) {
  Unescaper ua(a);
  for (const char* q = plain;; ++q) {
    const int x = ua.next();
    const int y = static_cast<unsigned char>(*q);
    if (y == 0) return x < 0;
    if (x != y) return false;
  }
}

/// Copies the decoded string into out (cap bytes incl. NUL). TooLong if it does not fit (unless truncating);
/// BadValue if it contains NUL (\u0000), which a C string would silently cut.
CodecError raw_copy(Span s, char* out, size_t cap, bool truncate = false) {
  Unescaper u(s);
  size_t i = 0;
  for (int c = u.next(); c >= 0; c = u.next()) {
    if (c == 0 && !truncate) return CodecError::BadValue;
    if (i + 1 >= cap) {
      if (!truncate) return CodecError::TooLong;
      break;
    }
    out[i++] = static_cast<char>(c);
  }
  out[i] = '\0';
  return CodecError::Ok;
}

class Reader {
 public:
  Reader(const char* p, size_t n) : p_(p), end_(p + n) {}

  /// Over an already-validated array span: is every element a string, and is `plain` among them?
  CodecError string_array_contains(const char* plain, bool& found) {
    found = false;
    ++p_;  // '['
    for (;;) {
      ws();
      if (p_ >= end_) return CodecError::Syntax;
      if (*p_ == ']') return CodecError::Ok;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '"') return CodecError::WrongType;
      Span s;
      const CodecError e = string(s);
      if (e != CodecError::Ok) return e;
      if (plain != nullptr && *plain != '\0' && raw_equal(s, plain)) found = true;
    }
  }

  CodecError top_object(Object& obj) {
    if (p_ == nullptr) return CodecError::Empty;
    ws();
    if (p_ >= end_) return CodecError::Empty;
    if (*p_ != '{') {
      // Distinguish "valid JSON but not an object" from garbage, for clearer logs.
      JType t;
      Span v;
      const CodecError e = value(t, v, 0);
      if (e != CodecError::Ok) return e;
      ws();
      return p_ == end_ ? CodecError::NotObject : CodecError::Syntax;
    }
    CodecError e = object(&obj, 0);
    if (e != CodecError::Ok) return e;
    ws();
    return p_ == end_ ? CodecError::Ok : CodecError::Syntax;
  }

 private:
  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  // Parses an object at '{'. When obj is non-null, records its members (top level only).
  CodecError object(Object* obj, size_t depth) {
    if (depth >= kMaxDepth) return CodecError::TooDeep;
    ++p_;  // '{'
    ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return CodecError::Ok;
    }
    for (;;) {
      ws();
      if (p_ >= end_ || *p_ != '"') return CodecError::Syntax;
      Span key;
      CodecError e = string(key);
      if (e != CodecError::Ok) return e;
      ws();
      if (p_ >= end_ || *p_ != ':') return CodecError::Syntax;
      ++p_;
      ws();
      JType t;
      Span v;
      e = value(t, v, depth + 1);
      if (e != CodecError::Ok) return e;
      if (obj != nullptr) {
        for (size_t i = 0; i < obj->count; ++i) {
          if (raw_equal(obj->m[i].key, key)) return CodecError::DuplicateKey;
        }
        if (obj->count >= kMaxKeys) return CodecError::TooManyKeys;
        obj->m[obj->count++] = Member{key, t, v};
      }
      ws();
      if (p_ >= end_) return CodecError::Syntax;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return CodecError::Ok;
      }
      return CodecError::Syntax;
    }
  }

  CodecError array(size_t depth) {
    if (depth >= kMaxDepth) return CodecError::TooDeep;
    ++p_;  // '['
    ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return CodecError::Ok;
    }
    for (;;) {
      ws();
      JType t;
      Span v;
      const CodecError e = value(t, v, depth + 1);
      if (e != CodecError::Ok) return e;
      ws();
      if (p_ >= end_) return CodecError::Syntax;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return CodecError::Ok;
      }
      return CodecError::Syntax;
    }
  }

  CodecError value(JType& t, Span& v, size_t depth) {
    if (p_ >= end_) return CodecError::Syntax;
    const char* start = p_;
    const char c = *p_;
    CodecError e;
    switch (c) {
      case '"':
        t = JType::String;
        return string(v);
      case '{':
        t = JType::Object;
        e = object(nullptr, depth);
        break;
      case '[':
        t = JType::Array;
        e = array(depth);
        break;
      case 't':
        t = JType::True;
        e = literal("true");
        break;
      case 'f':
        t = JType::False;
        e = literal("false");
        break;
      case 'n':
        t = JType::Null;
        e = literal("null");
        break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          t = JType::Number;
          e = number();
          break;
        }
        return CodecError::Syntax;
    }
    if (e != CodecError::Ok) return e;
    v = Span{start, static_cast<size_t>(p_ - start)};
    return CodecError::Ok;
  }

  CodecError literal(const char* word) {
    const size_t n = std::strlen(word);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return CodecError::Syntax;
    p_ += n;
    return CodecError::Ok;
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  CodecError number() {
    if (p_ < end_ && *p_ == '-') ++p_;
    if (p_ >= end_ || !digit(*p_)) return CodecError::BadNumber;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ >= end_ || !digit(*p_)) return CodecError::BadNumber;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !digit(*p_)) return CodecError::BadNumber;
      while (p_ < end_ && digit(*p_)) ++p_;
    }
    // A number must be followed by a delimiter, never directly by a letter ("12abc").
    if (p_ < end_ && !(*p_ == ',' || *p_ == '}' || *p_ == ']' || *p_ == ' ' || *p_ == '\t' || *p_ == '\n' ||
                       *p_ == '\r')) {
      return CodecError::BadNumber;
    }
    return CodecError::Ok;
  }

  // At '"'. Validates escapes and UTF-16 surrogate pairs; the span excludes the quotes.
  CodecError string(Span& out) {
    ++p_;
    const char* start = p_;
    while (p_ < end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out = Span{start, static_cast<size_t>(p_ - start)};
        ++p_;
        return CodecError::Ok;
      }
      if (c < 0x20) return CodecError::BadString;
      if (c != '\\') {
        ++p_;
        continue;
      }
      ++p_;
      if (p_ >= end_) return CodecError::BadString;
      const char e = *p_++;
      switch (e) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
          break;
        case 'u': {
          int32_t cp = hex4();
          if (cp < 0) return CodecError::BadString;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return CodecError::BadString;  // lone low surrogate
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return CodecError::BadString;
            p_ += 2;
            const int32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) return CodecError::BadString;
          }
          break;
        }
        default:
          return CodecError::BadString;
      }
    }
    return CodecError::BadString;  // unterminated
  }

  int32_t hex4() {
    if (end_ - p_ < 4) return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hexval(p_[i]);
      if (h < 0) return -1;
      v = (v << 4) | h;
    }
    p_ += 4;
    return v;
  }

  const char* p_;
  const char* end_;
};

const Member* find(const Object& o, const char* key) {
  for (size_t i = 0; i < o.count; ++i) {
    if (raw_equal(o.m[i].key, key)) return &o.m[i];
  }
  return nullptr;
}

/// Integer token → int64. Fractions, exponents and overflow are BadNumber.
CodecError to_int(Span s, int64_t& out) {
  size_t i = 0;
  bool neg = false;
  if (i < s.n && s.p[i] == '-') {
    neg = true;
    ++i;
  }
  if (i >= s.n) return CodecError::BadNumber;
  const uint64_t limit = neg ? (static_cast<uint64_t>(INT64_MAX) + 1u) : static_cast<uint64_t>(INT64_MAX);
  uint64_t v = 0;
  for (; i < s.n; ++i) {
    const char c = s.p[i];
    if (c < '0' || c > '9') return CodecError::BadNumber;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (limit - d) / 10u) return CodecError::BadNumber;
    v = v * 10u + d;
  }
  out = neg ? static_cast<int64_t>(~v + 1u) : static_cast<int64_t>(v);
  return CodecError::Ok;
}

CodecError req_int(const Object& o, const char* key, int64_t& out) {
  const Member* m = find(o, key);
  if (m == nullptr) return CodecError::MissingField;
  if (m->type != JType::Number) return CodecError::WrongType;
  return to_int(m->val, out);
}

/// Optional integer: absent or null leaves has=false.
CodecError opt_int(const Object& o, const char* key, bool& has, int64_t& out) {
  has = false;
  const Member* m = find(o, key);
  if (m == nullptr || m->type == JType::Null) return CodecError::Ok;
  if (m->type != JType::Number) return CodecError::WrongType;
  const CodecError e = to_int(m->val, out);
  has = e == CodecError::Ok;
  return e;
}

CodecError opt_str(const Object& o, const char* key, bool& has, char* out, size_t cap) {
  has = false;
  const Member* m = find(o, key);
  if (m == nullptr || m->type == JType::Null) return CodecError::Ok;
  if (m->type != JType::String) return CodecError::WrongType;
  const CodecError e = raw_copy(m->val, out, cap);
  has = e == CodecError::Ok;
  return e;
}

CodecError parse(const char* p, size_t n, Object& obj) { return Reader(p, n).top_object(obj); }

CodecError decode_command(const char* p, size_t n, CmdMsg& out, bool device_topic, const char* my_team) {
  Object o;
  CodecError e = parse(p, n, o);
  if (e != CodecError::Ok) return e;
  CmdMsg m;
  const Member* c = find(o, "cmd");
  if (c == nullptr) return CodecError::MissingField;
  if (c->type != JType::String) return CodecError::WrongType;
  if (raw_equal(c->val, "arm")) {
    m.kind = CmdKind::Arm;
  } else if (raw_equal(c->val, "lock")) {
    m.kind = CmdKind::Lock;
  } else if (raw_equal(c->val, "reset")) {
    m.kind = CmdKind::Reset;
  } else if (device_topic && raw_equal(c->val, "config")) {
    m.kind = CmdKind::Config;
  } else if (device_topic && raw_equal(c->val, "identify")) {
    m.kind = CmdKind::Identify;
  } else if (device_topic && raw_equal(c->val, "win")) {
    m.kind = CmdKind::Win;
  } else if (device_topic && raw_equal(c->val, "unpair")) {
    m.kind = CmdKind::Unpair;
  } else {
    return CodecError::BadValue;
  }
  if ((e = opt_int(o, "q", m.has_q, m.q)) != CodecError::Ok) return e;
  if ((e = opt_str(o, "winner", m.has_winner, m.winner, sizeof m.winner)) != CodecError::Ok) return e;
  if (m.has_winner && !valid_topic_id(m.winner)) return CodecError::BadValue;
  if (m.kind == CmdKind::Identify) {
    if ((e = opt_int(o, "duration_ms", m.has_duration_ms, m.duration_ms)) != CodecError::Ok) return e;
    if (m.has_duration_ms && (m.duration_ms < 1 || m.duration_ms > 60000)) return CodecError::BadValue;
  }
  if (m.kind == CmdKind::Arm) {
    const Member* lo = find(o, "locked_out");
    if (lo != nullptr && lo->type != JType::Null) {
      if (lo->type != JType::Array) return CodecError::WrongType;
      if ((e = Reader(lo->val.p, lo->val.n).string_array_contains(my_team, m.excluded)) != CodecError::Ok) return e;
    }
  }
  if (m.kind == CmdKind::Config) {
    if ((e = opt_str(o, "game", m.has_game, m.game, sizeof m.game)) != CodecError::Ok) return e;
    if (!m.has_game) return CodecError::MissingField;
    // The game id becomes a topic level: anything that could widen a subscription is refused.
    if (!valid_topic_id(m.game)) return CodecError::BadValue;
    if ((e = opt_str(o, "team", m.has_team, m.team, sizeof m.team)) != CodecError::Ok) return e;
    if (m.has_team && !valid_topic_id(m.team)) return CodecError::BadValue;
    char color[16];
    bool has_color = false;
    if ((e = opt_str(o, "color", has_color, color, sizeof color)) != CodecError::Ok) {
      return e == CodecError::TooLong ? CodecError::BadValue : e;
    }
    if (has_color) {
      if (!parse_color(color, std::strlen(color), m.color)) return CodecError::BadValue;
      m.has_color = true;
    }
  }
  out = m;
  return CodecError::Ok;
}

}  // namespace

// ================================================================ public API

bool valid_topic_id(const char* s) {
  if (s == nullptr || *s == '\0') return false;
  size_t n = 0;
  for (; s[n] != '\0'; ++n) {
    const auto c = static_cast<unsigned char>(s[n]);
    if (n + 1 >= kIdCap) return false;
    if (c <= 0x20 || c >= 0x7F || c == '/' || c == '+' || c == '#') return false;
  }
  return true;
}

bool parse_color(const char* s, size_t n, Rgb& out) {
  if (n != 4 && n != 7) return false;
  if (s[0] != '#') return false;
  int v[6];
  for (size_t i = 1; i < n; ++i) {
    v[i - 1] = hexval(s[i]);
    if (v[i - 1] < 0) return false;
  }
  if (n == 4) {
    out.r = static_cast<uint8_t>(v[0] * 17);
    out.g = static_cast<uint8_t>(v[1] * 17);
    out.b = static_cast<uint8_t>(v[2] * 17);
  } else {
    out.r = static_cast<uint8_t>(v[0] * 16 + v[1]);
    out.g = static_cast<uint8_t>(v[2] * 16 + v[3]);
    out.b = static_cast<uint8_t>(v[4] * 16 + v[5]);
  }
  return true;
}

void format_color(const Rgb& c, char out[8]) {
  static const char kHex[] = "0123456789abcdef";
  const uint8_t parts[3] = {c.r, c.g, c.b};
  out[0] = '#';
  for (int i = 0; i < 3; ++i) {
    out[1 + 2 * i] = kHex[parts[i] >> 4];
    out[2 + 2 * i] = kHex[parts[i] & 0xF];
  }
  out[7] = '\0';
}

size_t encode_status(const StatusMsg& m, char* buf, size_t cap) {
  Writer w(buf, cap);
  w.put('{');
  w.key("state", true);
  w.string(m.online ? "online" : "offline");
  if (m.online) {
    w.key("fw", false);
    w.string(m.fw != nullptr ? m.fw : "");
    if (m.has_rssi) {
      w.key("rssi", false);
      w.integer(m.rssi);
    }
    if (m.has_battery) {
      w.key("battery_mv", false);
      w.integer(m.battery_mv);
    }
    if (m.has_boot) {
      w.key("boot", false);
      w.integer(m.boot);
    }
  }
  w.put('}');
  return w.finish();
}

size_t encode_buzz(const BuzzMsg& m, char* buf, size_t cap) {
  Writer w(buf, cap);
  w.put('{');
  w.key("seq", true);
  w.integer(m.seq);
  w.key("boot", false);
  w.integer(m.boot);
  w.key("t_us", false);
  w.integer(m.t_us);
  w.put('}');
  return w.finish();
}

size_t encode_sync_reply(const SyncReplyMsg& m, char* buf, size_t cap) {
  Writer w(buf, cap);
  w.put('{');
  w.key("n", true);
  w.integer(m.n);
  w.key("t1", false);
  w.integer(m.t1);
  w.key("t2", false);
  w.integer(m.t2);
  w.key("t3", false);
  w.integer(m.t3);
  if (m.has_boot) {
    w.key("boot", false);
    w.integer(m.boot);
  }
  w.put('}');
  return w.finish();
}

size_t encode_sync(const SyncMsg& m, char* buf, size_t cap) {
  Writer w(buf, cap);
  w.put('{');
  w.key("n", true);
  w.integer(m.n);
  w.key("t1", false);
  w.integer(m.t1);
  w.put('}');
  return w.finish();
}

size_t encode_cmd(const CmdMsg& m, char* buf, size_t cap) {
  Writer w(buf, cap);
  w.put('{');
  w.key("cmd", true);
  w.string(cmd_kind_name(m.kind));
  if (m.has_q) {
    w.key("q", false);
    w.integer(m.q);
  }
  if (m.has_winner) {
    w.key("winner", false);
    w.string(m.winner);
  }
  if (m.has_game) {
    w.key("game", false);
    w.string(m.game);
  }
  if (m.has_team) {
    w.key("team", false);
    w.string(m.team);
  }
  if (m.has_color) {
    char c[8];
    format_color(m.color, c);
    w.key("color", false);
    w.string(c);
  }
  if (m.has_duration_ms) {
    w.key("duration_ms", false);
    w.integer(m.duration_ms);
  }
  w.put('}');
  return w.finish();
}

CodecError decode_sync(const char* p, size_t n, SyncMsg& out) {
  Object o;
  CodecError e = parse(p, n, o);
  if (e != CodecError::Ok) return e;
  SyncMsg m;
  if ((e = req_int(o, "n", m.n)) != CodecError::Ok) return e;
  if ((e = req_int(o, "t1", m.t1)) != CodecError::Ok) return e;
  out = m;
  return CodecError::Ok;
}

CodecError decode_cmd(const char* p, size_t n, CmdMsg& out) { return decode_command(p, n, out, true, nullptr); }

CodecError decode_buzzers(const char* p, size_t n, CmdMsg& out, const char* my_team) {
  return decode_command(p, n, out, false, my_team);
}

CodecError decode_hub_error(const char* p, size_t n, HubErrorMsg& out) {
  Object o;
  const CodecError e = parse(p, n, o);
  if (e != CodecError::Ok) return e;
  HubErrorMsg m;
  const Member* code = find(o, "code");
  if (code == nullptr) return CodecError::MissingField;
  if (code->type != JType::String) return CodecError::WrongType;
  raw_copy(code->val, m.code, sizeof m.code, true);  // log text: truncate rather than lose it
  const Member* msg = find(o, "message");
  if (msg != nullptr && msg->type == JType::String) raw_copy(msg->val, m.message, sizeof m.message, true);
  out = m;
  return CodecError::Ok;
}

CodecError decode_buzz(const char* p, size_t n, BuzzMsg& out) {
  Object o;
  CodecError e = parse(p, n, o);
  if (e != CodecError::Ok) return e;
  int64_t seq = 0, boot = 0, t = 0;
  if ((e = req_int(o, "seq", seq)) != CodecError::Ok) return e;
  if ((e = req_int(o, "boot", boot)) != CodecError::Ok) return e;
  if ((e = req_int(o, "t_us", t)) != CodecError::Ok) return e;
  if (seq < 0 || seq > UINT32_MAX || boot < 0 || boot > UINT32_MAX) return CodecError::BadValue;
  out = BuzzMsg{static_cast<uint32_t>(seq), static_cast<uint32_t>(boot), t};
  return CodecError::Ok;
}

CodecError decode_sync_reply(const char* p, size_t n, SyncReplyMsg& out) {
  Object o;
  CodecError e = parse(p, n, o);
  if (e != CodecError::Ok) return e;
  SyncReplyMsg m;
  if ((e = req_int(o, "n", m.n)) != CodecError::Ok) return e;
  if ((e = req_int(o, "t1", m.t1)) != CodecError::Ok) return e;
  if ((e = req_int(o, "t2", m.t2)) != CodecError::Ok) return e;
  if ((e = req_int(o, "t3", m.t3)) != CodecError::Ok) return e;
  int64_t boot = 0;
  if ((e = opt_int(o, "boot", m.has_boot, boot)) != CodecError::Ok) return e;
  if (m.has_boot && (boot < 0 || boot > UINT32_MAX)) return CodecError::BadValue;
  m.boot = static_cast<uint32_t>(boot);
  out = m;
  return CodecError::Ok;
}

}  // namespace quizhub
