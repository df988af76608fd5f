// The bounded cereal helpers: bounds checked before allocation, NUL rejected, bools and enums
// range-checked, the sender refusing what the receiver would refuse.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#include "ipc/bounded.hpp"
#include "ipc/frame.hpp"

// Largest single allocation request made by this test binary, to prove that a hostile size tag
// never turns into an allocation. Replacing the global operator new is the only way to see
// what std::string::resize asks for.
namespace {
std::atomic<std::size_t> g_largest_alloc{0};
}

void* operator new(std::size_t n) {
  std::size_t prev = g_largest_alloc.load();
  while (n > prev && !g_largest_alloc.compare_exchange_weak(prev, n)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return ::operator new(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return ::operator new(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
  return ::operator new(n, t);
}
// GCC cannot tell that malloc above is this operator new's allocator.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace fence::ipc {
namespace {

// A tiny message-like struct for exercising the helpers on their own.
enum class Colour : std::uint8_t { Red = 1, Green = 2, Blue = 3 };

struct Probe {
  std::string text;
  std::vector<std::string> list;
  bool flag = false;
  Colour colour = Colour::Red;
};

template <typename Archive>
void serialize(Archive& ar, Probe& p) {
  ar(bounded(p.text, 8), bounded(p.list, 3, 4), checked(p.flag),
     checked(p.colour, Colour::Red, Colour::Blue));
}

std::vector<std::byte> encode(const Probe& p) {
  VectorWriteBuf buf(kMaxPayload);
  std::ostream os(&buf);
  {
    cereal::BinaryOutputArchive ar(os);
    ar(p);
  }
  return buf.take();
}

Probe decode(std::span<const std::byte> bytes) {
  SpanReadBuf buf(bytes);
  std::istream is(&buf);
  Probe p;
  try {
    cereal::BinaryInputArchive ar(is);
    ar(p);
  } catch (const cereal::Exception& e) {
    throw DecodeError(e.what());
  }
  if (buf.remaining() != 0) throw DecodeError("trailing");
  return p;
}

void put_u32(std::vector<std::byte>& out, std::uint32_t v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);  // host order, as on the wire
  out.insert(out.end(), p, p + 4);
}

void put_text(std::vector<std::byte>& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  for (char c : s) out.push_back(static_cast<std::byte>(c));
}

// text, list, flag, colour, built by hand.
std::vector<std::byte> raw_probe(std::string_view text, std::vector<std::string_view> list,
                                 std::uint8_t flag, std::uint8_t colour) {
  std::vector<std::byte> out;
  put_text(out, text);
  put_u32(out, static_cast<std::uint32_t>(list.size()));
  for (auto s : list) put_text(out, s);
  out.push_back(std::byte{flag});
  out.push_back(std::byte{colour});
  return out;
}

}  // namespace

TEST_CASE("bounded helpers round trip at their limits", "[ipc][bounded]") {
  const Probe p{"12345678", {"abcd", "", "xy"}, true, Colour::Blue};
  const Probe q = decode(encode(p));
  CHECK(q.text == p.text);
  CHECK(q.list == p.list);
  CHECK(q.flag);
  CHECK(q.colour == Colour::Blue);
  CHECK(encode(p) == raw_probe("12345678", {"abcd", "", "xy"}, 1, 3));  // wire layout
}

TEST_CASE("hand-built probe decodes", "[ipc][bounded]") {
  CHECK_NOTHROW(decode(raw_probe("ok", {"a"}, 0, 1)));
}

TEST_CASE("string length over the bound is rejected", "[ipc][bounded]") {
  CHECK_THROWS_AS(decode(raw_probe("123456789", {}, 0, 1)), DecodeError);
}

TEST_CASE("oversized size tags are rejected without allocating", "[ipc][bounded]") {
  for (std::uint32_t tag : {0xffffffffu, 0x80000000u, 0x00100000u, 9u}) {
    INFO("tag " << tag);
    std::vector<std::byte> bytes;
    put_u32(bytes, tag);  // string length claiming far more than follows
    bytes.resize(bytes.size() + 64, std::byte{'a'});
    g_largest_alloc = 0;
    CHECK_THROWS_AS(decode(bytes), DecodeError);
    CHECK(g_largest_alloc.load() < 4096);
  }
  SECTION("list count") {
    std::vector<std::byte> bytes;
    put_text(bytes, "t");
    put_u32(bytes, 0xffffffffu);
    g_largest_alloc = 0;
    CHECK_THROWS_AS(decode(bytes), DecodeError);
    CHECK(g_largest_alloc.load() < 4096);
  }
  SECTION("element length inside a list") {
    std::vector<std::byte> bytes;
    put_text(bytes, "t");
    put_u32(bytes, 1);
    put_u32(bytes, 0xffffffffu);
    g_largest_alloc = 0;
    CHECK_THROWS_AS(decode(bytes), DecodeError);
    CHECK(g_largest_alloc.load() < 4096);
  }
  SECTION("real message: LaunchSpec argv count and length") {
    std::vector<std::byte> bytes;
    put_u32(bytes, 0xffffffffu);
    g_largest_alloc = 0;
    CHECK_THROWS_AS(decode_payload<LaunchSpec>(bytes), DecodeError);
    CHECK(g_largest_alloc.load() < 4096);
    bytes.clear();
    put_u32(bytes, 1);
    put_u32(bytes, 0xffffffffu);
    g_largest_alloc = 0;
    CHECK_THROWS_AS(decode_payload<LaunchSpec>(bytes), DecodeError);
    CHECK(g_largest_alloc.load() < 4096);
  }
}

TEST_CASE("list count over the bound is rejected", "[ipc][bounded]") {
  CHECK_THROWS_AS(decode(raw_probe("", {"a", "b", "c", "d"}, 0, 1)), DecodeError);
  CHECK_THROWS_AS(decode(raw_probe("", {"abcde"}, 0, 1)), DecodeError);
}

TEST_CASE("a count that the payload cannot back fails cleanly", "[ipc][bounded]") {
  std::vector<std::byte> bytes;
  put_text(bytes, "");
  put_u32(bytes, 3);  // three elements announced, none present
  CHECK_THROWS_AS(decode(bytes), DecodeError);
}

TEST_CASE("NUL bytes in text are rejected on both sides", "[ipc][bounded]") {
  using namespace std::string_literals;
  CHECK_THROWS_AS(decode(raw_probe("a\0b"s, {}, 0, 1)), DecodeError);
  CHECK_THROWS_AS(decode(raw_probe("", {"x\0"s}, 0, 1)), DecodeError);
  CHECK_THROWS_AS(encode(Probe{"a\0b"s, {}, false, Colour::Red}), EncodeError);
  CHECK_THROWS_AS(encode(Probe{"", {"\0"s}, false, Colour::Red}), EncodeError);
}

TEST_CASE("checked bool accepts only 0 and 1", "[ipc][bounded]") {
  CHECK_FALSE(decode(raw_probe("", {}, 0, 1)).flag);
  CHECK(decode(raw_probe("", {}, 1, 1)).flag);
  for (int v : {2, 0x7f, 0x80, 0xff}) {
    INFO("bool byte " << v);
    CHECK_THROWS_AS(decode(raw_probe("", {}, static_cast<std::uint8_t>(v), 1)), DecodeError);
  }
}

TEST_CASE("checked enum accepts only its range", "[ipc][bounded]") {
  CHECK(decode(raw_probe("", {}, 0, 2)).colour == Colour::Green);
  for (int v : {0, 4, 0xff}) {
    INFO("enum value " << v);
    CHECK_THROWS_AS(decode(raw_probe("", {}, 0, static_cast<std::uint8_t>(v))), DecodeError);
  }
  CHECK_THROWS_AS(encode(Probe{"", {}, false, static_cast<Colour>(9)}), EncodeError);
}

TEST_CASE("the encoder refuses values over their bounds", "[ipc][bounded]") {
  CHECK_THROWS_AS(encode(Probe{"123456789", {}, false, Colour::Red}), EncodeError);
  CHECK_THROWS_AS(encode(Probe{"", {"a", "b", "c", "d"}, false, Colour::Red}), EncodeError);
  CHECK_THROWS_AS(encode(Probe{"", {"abcde"}, false, Colour::Red}), EncodeError);
}

TEST_CASE("encode_payload refuses payloads over its limit", "[ipc][bounded]") {
  LaunchSpec m;
  m.cwd = "/";
  m.argv.assign(8, std::string(16 * 1024, 'a'));    // each within bounds, 128 KiB in total
  CHECK_THROWS_AS(encode_payload(m), EncodeError);  // over kMaxPayload
  CHECK_NOTHROW(encode_payload(m, kMaxLargePayload));
  m.argv.assign(130, std::string(kMaxArgLen, 'a'));  // over kMaxLargePayload
  CHECK_THROWS_AS(encode_payload(m, kMaxLargePayload), EncodeError);
  m.argv.resize(3);
  CHECK_NOTHROW(encode_payload(m, kMaxLargePayload));
  m.argv.assign(3, std::string(16 * 1024, 'a'));
  CHECK_NOTHROW(encode_payload(m));
}

}  // namespace fence::ipc
