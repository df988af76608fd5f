#include "supervisor/policy/safe_text.hpp"

#include <cstdio>

namespace fence::supervisor {
namespace {

void append_hex_byte(std::string& out, unsigned char byte) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02X", byte);
  out += buf;
}

void append_escaped(std::string& out, std::string_view text, bool quote_chars) {
  for (std::size_t i = 0; i < text.size();) {
    const CodePoint cp = next_code_point(text, i);
    const std::string_view original = text.substr(i, cp.length);
    i += cp.length;
    if (!cp.valid) {
      append_hex_byte(out, static_cast<unsigned char>(original[0]));
    } else if (cp.value == '\n') {
      out += "\\n";
    } else if (cp.value == '\r') {
      out += "\\r";
    } else if (cp.value == '\t') {
      out += "\\t";
    } else if (cp.value == 0x1B) {
      out += "\\e";
    } else if (cp.value < 0x100 && is_control(cp.value)) {
      append_hex_byte(out, static_cast<unsigned char>(cp.value));
    } else if (is_control(cp.value)) {
      char buf[12];
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(cp.value));
      out += buf;
    } else if (quote_chars && (cp.value == '"' || cp.value == '\\')) {
      out += '\\';
      out += static_cast<char>(cp.value);
    } else {
      out += original;
    }
  }
}

}  // namespace

CodePoint next_code_point(std::string_view s, std::size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) return {lead, 1, true};
  std::size_t length = 0;
  char32_t value = 0;
  char32_t smallest = 0;  // below this, the sequence is overlong
  if ((lead & 0xE0) == 0xC0) {
    length = 2, value = lead & 0x1F, smallest = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, value = lead & 0x0F, smallest = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, value = lead & 0x07, smallest = 0x10000;
  } else {
    return {};
  }
  if (s.size() - i < length) return {};
  for (std::size_t k = 1; k < length; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return {};
    value = (value << 6) | (c & 0x3F);
  }
  if (value < smallest || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return {};
  return {value, length, true};
}

bool is_control(char32_t c) {
  return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F) || c == 0x2028 || c == 0x2029 ||
         // Bidirectional controls reorder what follows them on the screen (the "(comm, pid)"
         // fence appends, a forged path): ALM, LRM, RLM, the embeddings and overrides, the
         // isolates.
         c == 0x061C || c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069);
}

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text, false);
  return out;
}

std::string in_quotes(std::string_view text) {
  std::string out = "\"";
  append_escaped(out, text, true);
  out += '"';
  return out;
}

std::string shortened(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = 0;
  while (cut < text.size()) {
    const std::size_t next = cut + next_code_point(text, cut).length;
    if (next > max_bytes) break;
    cut = next;
  }
  return std::string(text.substr(0, cut)) + "... (" + std::to_string(text.size() - cut) +
         " more bytes)";
}

}  // namespace fence::supervisor
