// cereal helpers for wire fields that come from a less-trusted peer. Use them in every
// serialize function of protocol.hpp's messages instead of cereal's own std::string,
// std::vector, bool and enum support:
//   ar(bounded(m.cwd, kMaxPathLen));                  // uint32 length + bytes, NUL-free
//   ar(bounded(m.argv, kMaxArgCount, kMaxArgLen));    // uint32 count + bounded strings
//   ar(checked(m.debug));                             // uint8, only 0 or 1
//   ar(checked(m.role, Role::Supervisor, Role::ProxyWorker));  // underlying int, in range
//
// Why not cereal's defaults: its std::string/std::vector loaders resize to a 64-bit size tag
// read from the input before reading a single element, its bool loader copies a raw byte into
// a bool (any value other than 0/1 is undefined behaviour) and its enum loader accepts any
// integer. Every loader here checks first and allocates after.
//
// Integers (the length and count tags included) are in host byte order: both ends of a
// socketpair run on the same host. Decoding failures throw DecodeError; an attempt to encode
// a value that the decoder would reject throws EncodeError, so a sender cannot emit a message
// its peer is bound to refuse.
#pragma once

#include <cereal/cereal.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "ipc/errors.hpp"

namespace fence::ipc {

// All bounds are far below 2^32, so a uint32 tag always suffices.
using WireSize = std::uint32_t;

struct BoundedString {
  std::string& value;
  std::size_t max_len;
};

struct BoundedStringList {
  std::vector<std::string>& value;
  std::size_t max_count;
  std::size_t max_len;  // per element
};

struct CheckedBool {
  bool& value;
};

struct BoundedPortList {
  std::vector<std::uint16_t>& value;
  std::size_t max_count;
};

template <typename E>
struct CheckedEnum {
  static_assert(std::is_enum_v<E>);
  E& value;
  E first;  // inclusive range of accepted values
  E last;
};

inline BoundedString bounded(std::string& s, std::size_t max_len) {
  return {s, max_len};
}
inline BoundedStringList bounded(std::vector<std::string>& v, std::size_t max_count,
                                 std::size_t max_len) {
  return {v, max_count, max_len};
}
inline CheckedBool checked(bool& b) {
  return {b};
}
inline BoundedPortList bounded(std::vector<std::uint16_t>& v, std::size_t max_count) {
  return {v, max_count};
}
template <typename E>
CheckedEnum<E> checked(E& e, E first, E last) {
  return {e, first, last};
}

namespace detail {

inline bool contains_nul(const std::string& s) {
  return s.find('\0') != std::string::npos;
}

template <typename Archive>
WireSize load_size_tag(Archive& ar, std::size_t max, const char* what) {
  WireSize n = 0;
  ar(n);
  // SECURITY: the tag is attacker-controlled; it is checked here, before anything is sized
  // after it.
  if (n > max) {
    throw DecodeError(std::string(what) + " of " + std::to_string(n) + " exceeds the bound " +
                      std::to_string(max));
  }
  return n;
}

}  // namespace detail

// --- strings: uint32 length, then the bytes. Text only: NUL is rejected. ---------------------

template <typename Archive>
void save(Archive& ar, const BoundedString& s) {
  if (s.value.size() > s.max_len) {
    throw EncodeError("string of " + std::to_string(s.value.size()) + " bytes exceeds the bound " +
                      std::to_string(s.max_len));
  }
  if (detail::contains_nul(s.value)) throw EncodeError("string contains a NUL byte");
  ar(static_cast<WireSize>(s.value.size()));
  ar(cereal::binary_data(s.value.data(), s.value.size()));
}

template <typename Archive>
void load(Archive& ar, BoundedString& s) {
  const WireSize n = detail::load_size_tag(ar, s.max_len, "string length");
  s.value.resize(n);  // at most max_len bytes
  ar(cereal::binary_data(s.value.data(), n));
  // SECURITY: every string of this protocol ends up as a C string (path, argv, env); an
  // embedded NUL would make the checked text differ from the text the kernel sees.
  if (detail::contains_nul(s.value)) throw DecodeError("string contains a NUL byte");
}

// --- lists of strings: uint32 count, then each element as a bounded string. ------------------

template <typename Archive>
void save(Archive& ar, const BoundedStringList& l) {
  if (l.value.size() > l.max_count) {
    throw EncodeError("list of " + std::to_string(l.value.size()) + " elements exceeds the bound " +
                      std::to_string(l.max_count));
  }
  ar(static_cast<WireSize>(l.value.size()));
  for (std::string& s : l.value) ar(bounded(s, l.max_len));
}

template <typename Archive>
void load(Archive& ar, BoundedStringList& l) {
  const WireSize n = detail::load_size_tag(ar, l.max_count, "list count");
  l.value.clear();
  // No reserve(n): elements are appended only as their bytes actually arrive, so a count
  // that the payload cannot back costs nothing.
  for (WireSize i = 0; i < n; ++i) {
    std::string s;
    ar(bounded(s, l.max_len));
    l.value.push_back(std::move(s));
  }
}

// --- lists of ports: uint32 count, then each uint16. ----------------------------------------

template <typename Archive>
void save(Archive& ar, const BoundedPortList& l) {
  if (l.value.size() > l.max_count) throw EncodeError("port list exceeds its bound");
  ar(static_cast<WireSize>(l.value.size()));
  for (std::uint16_t port : l.value) ar(port);
}

template <typename Archive>
void load(Archive& ar, BoundedPortList& l) {
  const WireSize n = detail::load_size_tag(ar, l.max_count, "port count");
  l.value.clear();
  for (WireSize i = 0; i < n; ++i) {
    std::uint16_t port = 0;
    ar(port);
    l.value.push_back(port);
  }
}

// --- bool: one byte, 0 or 1. ------------------------------------------------------------------

template <typename Archive>
void save(Archive& ar, const CheckedBool& b) {
  ar(static_cast<std::uint8_t>(b.value ? 1 : 0));
}

template <typename Archive>
void load(Archive& ar, CheckedBool& b) {
  std::uint8_t v = 0;
  ar(v);
  if (v > 1) throw DecodeError("bool byte is " + std::to_string(v) + ", not 0 or 1");
  b.value = (v == 1);
}

// --- enums: the underlying integer, within [first, last]. ---------------------------------

template <typename Archive, typename E>
void save(Archive& ar, const CheckedEnum<E>& e) {
  using U = std::underlying_type_t<E>;
  const U v = static_cast<U>(e.value);
  if (v < static_cast<U>(e.first) || v > static_cast<U>(e.last)) {
    throw EncodeError("enum value " + std::to_string(+v) + " out of range");
  }
  ar(v);
}

template <typename Archive, typename E>
void load(Archive& ar, CheckedEnum<E>& e) {
  using U = std::underlying_type_t<E>;
  U v{};
  ar(v);
  // SECURITY: an out-of-range enum would fall through every switch of the receiver.
  if (v < static_cast<U>(e.first) || v > static_cast<U>(e.last)) {
    throw DecodeError("enum value " + std::to_string(+v) + " out of range");
  }
  e.value = static_cast<E>(v);
}

}  // namespace fence::ipc
