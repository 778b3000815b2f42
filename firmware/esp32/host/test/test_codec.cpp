// Codec: exact encodings, decoding tolerance (key order, whitespace, unknown keys, escapes), a table of malformed
// inputs with their error codes, and seeded properties: round trips through randomly re-serialised JSON, encoders
// never writing past their buffer, and mutated/truncated payloads never crashing or overrunning (ASan/UBSan).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "codec.h"
#include "seed.h"

using namespace quizhub;

namespace {

// Decode from an exactly-sized heap copy: any read past the end is an ASan error, not a silent pass.
template <class Msg, class Fn>
CodecError decode_exact(Fn fn, const std::string& s, Msg& out) {
  std::vector<char> buf(s.begin(), s.end());
  return fn(buf.empty() ? nullptr : buf.data(), buf.size(), out);
}

CodecError cmd(const std::string& s, CmdMsg& m) { return decode_exact(decode_cmd, s, m); }
CodecError buzzers(const std::string& s, CmdMsg& m) {
  return decode_exact([](const char* p, size_t n, CmdMsg& o) { return decode_buzzers(p, n, o); }, s, m);
}
CodecError sync(const std::string& s, SyncMsg& m) { return decode_exact(decode_sync, s, m); }

std::string enc_buzz(const BuzzMsg& m) {
  char b[128];
  const size_t n = encode_buzz(m, b, sizeof b);
  return std::string(b, n);
}

}  // namespace

TEST_CASE("encoders produce the exact DESIGN §3 payloads") {
  char b[160];
  StatusMsg st;
  st.fw = "1.0.0";
  st.has_rssi = true;
  st.rssi = -60;
  st.has_battery = true;
  st.battery_mv = 3900;
  REQUIRE(encode_status(st, b, sizeof b) > 0);
  CHECK(std::string(b) == R"({"state":"online","fw":"1.0.0","rssi":-60,"battery_mv":3900})");
  StatusMsg off;
  off.online = false;
  REQUIRE(encode_status(off, b, sizeof b) > 0);
  CHECK(std::string(b) == R"({"state":"offline"})");
  CHECK(enc_buzz(BuzzMsg{17, 3, 123456789}) == R"({"seq":17,"boot":3,"t_us":123456789})");
  REQUIRE(encode_sync_reply(SyncReplyMsg{42, 1000, -5, INT64_MAX}, b, sizeof b) > 0);
  CHECK(std::string(b) == R"({"n":42,"t1":1000,"t2":-5,"t3":9223372036854775807})");
  REQUIRE(encode_sync_reply(SyncReplyMsg{0, INT64_MIN, 0, 0}, b, sizeof b) > 0);
  CHECK(std::string(b) == R"({"n":0,"t1":-9223372036854775808,"t2":0,"t3":0})");
}

TEST_CASE("status escapes the firmware string") {
  char b[64];
  StatusMsg st;
  st.fw = "1\"\\\n";
  REQUIRE(encode_status(st, b, sizeof b) > 0);
  CHECK(std::string(b) == "{\"state\":\"online\",\"fw\":\"1\\\"\\\\\\u000a\"}");
}

TEST_CASE("decoders accept any key order, whitespace, unknown keys and escapes") {
  SyncMsg s;
  REQUIRE(sync(" \r\n{ \"t1\" :\t99 , \"extra\": {\"a\":[1,2.5e-3,{\"b\":null}],\"c\":true}, \"n\":42 }\n", s) ==
          CodecError::Ok);
  CHECK(s.n == 42);
  CHECK(s.t1 == 99);

  CmdMsg m;
  REQUIRE(cmd(R"({"color":"#E33","team":"t3","game":"g\u0031","cmd":"config","v":2})", m) == CodecError::Ok);
  CHECK(m.kind == CmdKind::Config);
  CHECK(std::string(m.game) == "g1");
  CHECK(std::string(m.team) == "t3");
  CHECK(m.has_color);
  CHECK(m.color == Rgb{0xee, 0x33, 0x33});

  REQUIRE(buzzers(R"({"q":3,"cmd":"lock","winner":"dev7"})", m) == CodecError::Ok);
  CHECK(m.kind == CmdKind::Lock);
  CHECK(m.has_q);
  CHECK(m.q == 3);
  CHECK(std::string(m.winner) == "dev7");

  REQUIRE(buzzers(R"({"cmd":"arm","q":4,"winner":null})", m) == CodecError::Ok);
  CHECK(m.kind == CmdKind::Arm);
  CHECK_FALSE(m.has_winner);

  REQUIRE(cmd(R"({"cmd":"config","game":"g2","team":null,"color":"#00ff7f"})", m) == CodecError::Ok);
  CHECK_FALSE(m.has_team);
  CHECK(m.color == Rgb{0, 255, 127});

  // Keys compare after unescaping.
  REQUIRE(cmd(R"({"\u0063md":"identify"})", m) == CodecError::Ok);
  CHECK(m.kind == CmdKind::Identify);

  HubErrorMsg e;
  REQUIRE(decode_exact(decode_hub_error, R"({"message":"seq went backwards \u00e9","code":"bad_buzz"})", e) ==
          CodecError::Ok);
  CHECK(std::string(e.code) == "bad_buzz");
  CHECK(std::string(e.message) == "seq went backwards \xc3\xa9");
}

TEST_CASE("malformed and disallowed inputs are rejected with their error code") {
  struct Case {
    const char* input;
    CodecError want;
  };
  const Case cases[] = {
      {"", CodecError::Empty},
      {"   \n", CodecError::Empty},
      {"[]", CodecError::NotObject},
      {"\"cmd\"", CodecError::NotObject},
      {"42", CodecError::NotObject},
      {"{", CodecError::Syntax},
      {"{\"cmd\"", CodecError::Syntax},
      {"{\"cmd\":", CodecError::Syntax},
      {"{\"cmd\":\"arm\"", CodecError::Syntax},
      {"{\"cmd\":\"arm\",}", CodecError::Syntax},
      {"{\"cmd\" \"arm\"}", CodecError::Syntax},
      {"{cmd:\"arm\"}", CodecError::Syntax},
      {"{'cmd':'arm'}", CodecError::Syntax},
      {"{\"cmd\":\"arm\"}}", CodecError::Syntax},
      {"{\"cmd\":\"arm\"} x", CodecError::Syntax},
      {"{\"cmd\":\"arm\",\"q\":tru}", CodecError::Syntax},
      {"{\"cmd\":\"arm\",\"q\":[1,2}", CodecError::Syntax},
      {"{\"cmd\":\"ar", CodecError::BadString},
      {"{\"cmd\":\"a\\xrm\"}", CodecError::BadString},
      {"{\"cmd\":\"a\\u12\"}", CodecError::BadString},
      {"{\"cmd\":\"\\udc00\"}", CodecError::BadString},
      {"{\"cmd\":\"\\ud800x\"}", CodecError::BadString},
      {"{\"cmd\":\"a\nrm\"}", CodecError::BadString},
      {"{\"cmd\":\"arm\",\"q\":01}", CodecError::BadNumber},
      {"{\"cmd\":\"arm\",\"q\":-}", CodecError::BadNumber},
      {"{\"cmd\":\"arm\",\"q\":1.}", CodecError::BadNumber},
      {"{\"cmd\":\"arm\",\"q\":1e}", CodecError::BadNumber},
      {"{\"cmd\":\"arm\",\"q\":12abc}", CodecError::BadNumber},
      {"{\"cmd\":\"arm\",\"q\":1.5}", CodecError::BadNumber},
      {"{\"cmd\":\"arm\",\"q\":1e3}", CodecError::BadNumber},
      {"{\"cmd\":\"arm\",\"q\":9223372036854775808}", CodecError::BadNumber},
      {"{\"cmd\":\"arm\",\"q\":-9223372036854775809}", CodecError::BadNumber},
      {"{\"cmd\":\"arm\",\"x\":[[[[[[[[[[1]]]]]]]]]]}", CodecError::TooDeep},
      {"{\"cmd\":\"arm\",\"cmd\":\"lock\"}", CodecError::DuplicateKey},
      {"{\"cmd\":\"arm\",\"c\\u006dd\":\"lock\"}", CodecError::DuplicateKey},
      {"{\"q\":1}", CodecError::MissingField},
      {"{\"cmd\":\"config\"}", CodecError::MissingField},
      {"{\"cmd\":7}", CodecError::WrongType},
      {"{\"cmd\":\"arm\",\"q\":\"3\"}", CodecError::WrongType},
      {"{\"cmd\":\"lock\",\"winner\":5}", CodecError::WrongType},
      {"{\"cmd\":\"fly\"}", CodecError::BadValue},
      {"{\"cmd\":\"ARM\"}", CodecError::BadValue},
      {"{\"cmd\":\"config\",\"game\":\"#\"}", CodecError::BadValue},
      {"{\"cmd\":\"config\",\"game\":\"a/b\"}", CodecError::BadValue},
      {"{\"cmd\":\"config\",\"game\":\"g+\"}", CodecError::BadValue},
      {"{\"cmd\":\"config\",\"game\":\"\"}", CodecError::BadValue},
      {"{\"cmd\":\"config\",\"game\":\"g\\u0000\"}", CodecError::BadValue},
      {"{\"cmd\":\"config\",\"game\":\"g1\",\"color\":\"red\"}", CodecError::BadValue},
      {"{\"cmd\":\"config\",\"game\":\"g1\",\"color\":\"#12345g\"}", CodecError::BadValue},
      {"{\"cmd\":\"config\",\"game\":\"g1\",\"color\":\"#1234567890\"}", CodecError::BadValue},
      // 65 bytes: one over the hub's 64-byte ids.
      {"{\"cmd\":\"config\",\"game\":\"ggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg\"}",
       CodecError::TooLong},
  };
  for (const Case& c : cases) {
    const std::string input = c.input;
    CAPTURE(input);
    CmdMsg m;
    m.q = 12345;  // must be left untouched on failure
    CHECK(std::string(codec_error_name(cmd(c.input, m))) == codec_error_name(c.want));
    CHECK(m.q == 12345);
  }
  CmdMsg m;
  CHECK(buzzers(R"({"cmd":"config","game":"g1"})", m) == CodecError::BadValue);  // not a broadcast command
  CHECK(buzzers(R"({"cmd":"win"})", m) == CodecError::BadValue);
  SyncMsg s;
  CHECK(sync(R"({"n":1})", s) == CodecError::MissingField);
  CHECK(sync(R"({"n":1,"t1":2.0})", s) == CodecError::BadNumber);
  CHECK(sync(R"({"n":1,"t1":null})", s) == CodecError::WrongType);
  // 17 members: over the table.
  std::string many = "{\"cmd\":\"arm\"";
  for (int i = 0; i < 16; ++i) many += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  many += "}";
  CHECK(cmd(many, m) == CodecError::TooManyKeys);
  CHECK(decode_cmd(nullptr, 0, m) == CodecError::Empty);
}

TEST_CASE("buzzers arm: locked_out is searched for my team, and must be an array of strings") {
  CmdMsg m;
  const std::string arm = R"({"cmd":"arm","q":2,"locked_out":["t1", "t\u0033" ,"t9"]})";
  REQUIRE(decode_exact([](const char* p, size_t n, CmdMsg& o) { return decode_buzzers(p, n, o, "t3"); }, arm, m) ==
          CodecError::Ok);
  CHECK(m.excluded);
  REQUIRE(decode_exact([](const char* p, size_t n, CmdMsg& o) { return decode_buzzers(p, n, o, "t4"); }, arm, m) ==
          CodecError::Ok);
  CHECK_FALSE(m.excluded);
  REQUIRE(decode_exact([](const char* p, size_t n, CmdMsg& o) { return decode_buzzers(p, n, o, nullptr); }, arm, m) ==
          CodecError::Ok);
  CHECK_FALSE(m.excluded);
  CHECK(buzzers(R"({"cmd":"arm","locked_out":[]})", m) == CodecError::Ok);
  CHECK(buzzers(R"({"cmd":"arm","locked_out":[1]})", m) == CodecError::WrongType);
  CHECK(buzzers(R"({"cmd":"arm","locked_out":[["t3"]]})", m) == CodecError::WrongType);
  CHECK(buzzers(R"({"cmd":"arm","locked_out":{"t3":1}})", m) == CodecError::WrongType);
  // Other commands ignore it, as they ignore any unknown key.
  CHECK(buzzers(R"({"cmd":"lock","locked_out":5})", m) == CodecError::Ok);
}

TEST_CASE("sync reply and status carry the boot counter when set") {
  char b[160];
  SyncReplyMsg r{1, 2, 3, 4, true, 9};
  REQUIRE(encode_sync_reply(r, b, sizeof b) > 0);
  CHECK(std::string(b) == R"({"n":1,"t1":2,"t2":3,"t3":4,"boot":9})");
  SyncReplyMsg back;
  REQUIRE(decode_sync_reply(b, std::strlen(b), back) == CodecError::Ok);
  CHECK(back.has_boot);
  CHECK(back.boot == 9);
  StatusMsg st;
  st.fw = "2.0";
  st.has_boot = true;
  st.boot = 4;
  REQUIRE(encode_status(st, b, sizeof b) > 0);
  CHECK(std::string(b) == R"({"state":"online","fw":"2.0","boot":4})");
}

TEST_CASE("int64 boundaries are exact") {
  SyncMsg s;
  REQUIRE(sync(R"({"n":-9223372036854775808,"t1":9223372036854775807})", s) == CodecError::Ok);
  CHECK(s.n == INT64_MIN);
  CHECK(s.t1 == INT64_MAX);
  REQUIRE(sync(R"({"n":-0,"t1":0})", s) == CodecError::Ok);
  CHECK(s.n == 0);
}

TEST_CASE("property: encoders never write past the buffer and fail cleanly when it is short") {
  Rng rng(test_seed());
  CAPTURE(test_seed());
  for (int it = 0; it < iterations(300); ++it) {
    const BuzzMsg m{static_cast<uint32_t>(rng.range(0, UINT32_MAX)), static_cast<uint32_t>(rng.range(0, UINT32_MAX)),
                    rng.range(INT64_MIN, INT64_MAX)};
    const std::string full = enc_buzz(m);
    REQUIRE(!full.empty());
    for (size_t cap = 0; cap <= full.size() + 2; ++cap) {
      std::vector<char> buf(cap + 8, '\x5a');  // 8 guard bytes after cap
      const size_t n = encode_buzz(m, buf.data(), cap);
      if (cap > full.size()) {
        CHECK(n == full.size());
        CHECK(std::string(buf.data(), n) == full);
      } else {
        CHECK(n == 0);
        if (cap > 0) CHECK(buf[0] == '\0');
      }
      for (size_t g = cap; g < cap + 8; ++g) REQUIRE(buf[g] == '\x5a');
    }
  }
}

namespace {

const char kIdChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:\"\\'!~";

std::string random_id(Rng& rng, size_t max_len = kIdCap - 1) {
  const size_t n = static_cast<size_t>(rng.range(1, static_cast<int64_t>(max_len)));
  std::string s;
  for (size_t i = 0; i < n; ++i) s += kIdChars[rng.range(0, sizeof kIdChars - 2)];
  return s;
}

std::string ws(Rng& rng) {
  static const char kWs[] = {' ', '\t', '\n', '\r'};
  std::string s;
  const int64_t n = rng.coin(70) ? 0 : rng.range(1, 3);
  for (int64_t i = 0; i < n; ++i) s += rng.pick(kWs, 4);
  return s;
}

// A JSON string for s, escaping randomly (\uXXXX for any ASCII char is legal JSON).
std::string json_str(Rng& rng, const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\' || rng.coin(10)) {
      if (rng.coin(50) && (c == '"' || c == '\\')) {
        o += '\\';
        o += static_cast<char>(c);
      } else {
        o += "\\u00";
        o += kHex[c >> 4];
        o += kHex[c & 15];
      }
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

std::string junk_value(Rng& rng, int depth = 0) {
  switch (rng.range(0, depth < 3 ? 6 : 4)) {
    case 0: return "null";
    case 1: return rng.coin() ? "true" : "false";
    case 2: return std::to_string(rng.range(-1000000, 1000000)) + (rng.coin() ? ".25e-3" : "");
    case 3: return json_str(rng, random_id(rng, 10));
    case 4: return "\"\\ud83d\\ude00\"";
    case 5: return "[" + junk_value(rng, depth + 1) + "," + ws(rng) + junk_value(rng, depth + 1) + "]";
    default: return "{\"x\":" + junk_value(rng, depth + 1) + "}";
  }
}

// Serialise members in random order with random whitespace and an unknown key or two.
std::string object(Rng& rng, std::vector<std::pair<std::string, std::string>> members) {
  const int extra = static_cast<int>(rng.range(0, 2));
  for (int i = 0; i < extra; ++i) members.emplace_back("zz_unknown" + std::to_string(i), junk_value(rng));
  std::shuffle(members.begin(), members.end(), rng.g);
  std::string o = ws(rng) + "{";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) o += ws(rng) + ",";
    o += ws(rng) + json_str(rng, members[i].first) + ws(rng) + ":" + ws(rng) + members[i].second + ws(rng);
  }
  return o + "}" + ws(rng);
}

}  // namespace

TEST_CASE("property: commands survive random re-serialisation (order, whitespace, escapes, unknown keys)") {
  Rng rng(test_seed());
  CAPTURE(test_seed());
  static const CmdKind kKinds[] = {CmdKind::Config, CmdKind::Identify, CmdKind::Win,   CmdKind::Lock,
                                   CmdKind::Arm,    CmdKind::Reset,    CmdKind::Unpair};
  for (int it = 0; it < iterations(3000); ++it) {
    CmdMsg want;
    want.kind = rng.pick(kKinds, 7);
    std::vector<std::pair<std::string, std::string>> mem;
    mem.emplace_back("cmd", json_str(rng, cmd_kind_name(want.kind)));
    if (rng.coin()) {
      want.has_q = true;
      want.q = rng.range(INT64_MIN, INT64_MAX);
      mem.emplace_back("q", std::to_string(want.q));
    }
    if (rng.coin()) {
      want.has_winner = true;
      const std::string w = random_id(rng);
      std::strcpy(want.winner, w.c_str());
      mem.emplace_back("winner", json_str(rng, w));
    }
    if (want.kind == CmdKind::Config) {
      want.has_game = true;
      const std::string g = random_id(rng);
      std::strcpy(want.game, g.c_str());
      mem.emplace_back("game", json_str(rng, g));
      if (rng.coin()) {
        want.has_team = true;
        const std::string t = random_id(rng);
        std::strcpy(want.team, t.c_str());
        mem.emplace_back("team", json_str(rng, t));
      }
      if (rng.coin()) {
        want.has_color = true;
        want.color = Rgb{static_cast<uint8_t>(rng.range(0, 255)), static_cast<uint8_t>(rng.range(0, 255)),
                         static_cast<uint8_t>(rng.range(0, 255))};
        char c[8];
        format_color(want.color, c);
        mem.emplace_back("color", json_str(rng, c));
      }
    }
    const std::string text = object(rng, mem);
    CAPTURE(text);
    CmdMsg got;
    REQUIRE(cmd(text, got) == CodecError::Ok);
    CHECK(got.kind == want.kind);
    CHECK(got.has_q == want.has_q);
    if (want.has_q) CHECK(got.q == want.q);
    CHECK(std::string(got.winner) == want.winner);
    CHECK(std::string(got.game) == want.game);
    CHECK(std::string(got.team) == want.team);
    CHECK(got.has_color == want.has_color);
    if (want.has_color) CHECK(got.color == want.color);
    // And the canonical encoder round-trips too.
    char b[512];
    const size_t n = encode_cmd(got, b, sizeof b);
    REQUIRE(n > 0);
    CmdMsg again;
    REQUIRE(decode_cmd(b, n, again) == CodecError::Ok);
    CHECK(std::string(again.game) == want.game);
    CHECK(std::string(again.winner) == want.winner);
  }
}

TEST_CASE("property: sync, sync reply and buzz round-trip") {
  Rng rng(test_seed() + 1);
  CAPTURE(test_seed());
  for (int it = 0; it < iterations(3000); ++it) {
    const SyncMsg s{rng.range(INT64_MIN, INT64_MAX), rng.range(INT64_MIN, INT64_MAX)};
    const std::string text =
        object(rng, {{"n", std::to_string(s.n)}, {"t1", std::to_string(s.t1)}});
    SyncMsg got;
    REQUIRE(sync(text, got) == CodecError::Ok);
    CHECK(got.n == s.n);
    CHECK(got.t1 == s.t1);

    char b[256];
    const SyncReplyMsg r{s.n, s.t1, rng.range(INT64_MIN, INT64_MAX), rng.range(INT64_MIN, INT64_MAX)};
    size_t n = encode_sync_reply(r, b, sizeof b);
    SyncReplyMsg rr;
    REQUIRE(decode_sync_reply(b, n, rr) == CodecError::Ok);
    CHECK(rr.n == r.n);
    CHECK(rr.t1 == r.t1);
    CHECK(rr.t2 == r.t2);
    CHECK(rr.t3 == r.t3);

    const BuzzMsg bz{static_cast<uint32_t>(rng.range(0, UINT32_MAX)), static_cast<uint32_t>(rng.range(0, UINT32_MAX)),
                     rng.range(INT64_MIN, INT64_MAX)};
    n = encode_buzz(bz, b, sizeof b);
    BuzzMsg bb;
    REQUIRE(decode_buzz(b, n, bb) == CodecError::Ok);
    CHECK(bb == bz);
  }
}

TEST_CASE("property: every strict prefix of a valid payload is rejected") {
  Rng rng(test_seed() + 2);
  for (int it = 0; it < iterations(200); ++it) {
    CmdMsg m;
    m.kind = CmdKind::Config;
    m.has_game = true;
    std::strcpy(m.game, random_id(rng).c_str());
    m.has_q = true;
    m.q = rng.range(-5000, 5000);
    char b[512];
    const size_t n = encode_cmd(m, b, sizeof b);
    REQUIRE(n > 0);
    for (size_t k = 0; k < n; ++k) {
      CmdMsg out;
      CAPTURE(std::string(b, k));
      CHECK(cmd(std::string(b, k), out) != CodecError::Ok);
    }
  }
}

TEST_CASE("fuzz: mutated payloads never crash, overrun or half-fill the output") {
  Rng rng(test_seed() + 3);
  CAPTURE(test_seed());
  const std::string seeds[] = {
      R"({"cmd":"config","game":"g1","team":"t3","color":"#e33"})",
      R"({"cmd":"lock","q":3,"winner":"dev7"})",
      R"({"n":42,"t1":123456789})",
      R"({"code":"bad_buzz","message":"seq \u00e9 \"x\""})",
      R"({"a":[1,{"b":[true,false,null,-0.5e+7]}],"cmd":"arm"})",
  };
  static const char kBytes[] = "{}[]\":,\\ \t\nu0123456789abcdefABCDEF-+.eEtrufalsn#/\x00\x01\x7f\xc3\xa9\xff";
  int ok = 0, rejected = 0;
  for (int it = 0; it < iterations(40000); ++it) {
    std::string s = seeds[rng.range(0, 4)];
    const int edits = static_cast<int>(rng.range(1, 4));
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t at = static_cast<size_t>(rng.range(0, static_cast<int64_t>(s.size()) - 1));
      const char c = kBytes[rng.range(0, sizeof kBytes - 2)];
      switch (rng.range(0, 3)) {
        case 0: s[at] = c; break;
        case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c); break;
        case 2: s.erase(at, 1); break;
        default: s.resize(at); break;
      }
    }
    CmdMsg m;
    SyncMsg sy;
    HubErrorMsg he;
    const CodecError a = cmd(s, m);
    const CodecError b = sync(s, sy);
    const CodecError c = decode_exact(decode_hub_error, s, he);
    (a == CodecError::Ok ? ok : rejected)++;
    (void)b;
    (void)c;
    if (a == CodecError::Ok) {
      // Whatever was accepted is internally consistent: ids fit and a config game is a valid topic level.
      CHECK(std::strlen(m.game) < kIdCap);
      if (m.kind == CmdKind::Config) CHECK(valid_topic_id(m.game));
      if (m.has_winner) CHECK(valid_topic_id(m.winner));
    }
    CHECK(std::strlen(he.code) < kIdCap);
    CHECK(std::strlen(he.message) < kTextCap);
  }
  // The mutator must exercise both sides, or the check proves nothing.
  CHECK(ok > 100);
  CHECK(rejected > 1000);
}

TEST_CASE("topic ids and colours") {
  CHECK(valid_topic_id("dev-7"));
  CHECK_FALSE(valid_topic_id(""));
  CHECK_FALSE(valid_topic_id("a b"));
  CHECK_FALSE(valid_topic_id("a/b"));
  CHECK_FALSE(valid_topic_id("+"));
  CHECK_FALSE(valid_topic_id("#"));
  CHECK_FALSE(valid_topic_id(std::string(kIdCap, 'a').c_str()));
  CHECK(valid_topic_id(std::string(kIdCap - 1, 'a').c_str()));
  Rgb c;
  CHECK(parse_color("#fff", 4, c));
  CHECK(c == Rgb{255, 255, 255});
  CHECK_FALSE(parse_color("fff", 3, c));
  char out[8];
  format_color(Rgb{1, 0xab, 0xff}, out);
  CHECK(std::string(out) == "#01abff");
}
