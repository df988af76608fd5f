#include "supervisor/config/config_json.hpp"
#include "supervisor/policy/safe_text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <utility>

namespace fence::supervisor {
namespace {

// Positions: nlohmann reports positions only for errors, and an input wrapper counting consumed
// characters would sit at the lexer's read-ahead (past the token, one more after a number). So
// the handler keeps its own cursor over the already-validated text: before each event it skips
// what nlohmann skipped (whitespace, comments, ',' and ':') to find where the token starts, then
// steps over that token. Every SAX event corresponds to exactly one token, in source order.
class TokenCursor {
 public:
  explicit TokenCursor(std::string_view text) : text_(text) {
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;  // nlohmann skips a UTF-8 BOM too
  }

  // Start offset of the next token; moves the cursor past it.
  std::size_t next_token() {
    skip_insignificant();
    const std::size_t start = pos_;
    pos_ = token_end(start);
    return start;
  }

  // Where the next token starts (used to place syntax errors at the token, not past it).
  std::size_t peek() {
    skip_insignificant();
    return pos_;
  }

  // End (exclusive) of the token returned by the last next_token().
  std::size_t last_end() const { return pos_; }

 private:
  void skip_insignificant() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ':') {
        ++pos_;
      } else if (text_.substr(pos_).starts_with("//")) {
        // nlohmann ends a line comment at a NUL byte too (the parser then refuses the NUL).
        const std::size_t end = text_.find_first_of(std::string_view("\n\r\0", 3), pos_);
        pos_ = end == std::string_view::npos ? text_.size() : end;
      } else if (text_.substr(pos_).starts_with("/*")) {
        const std::size_t end = text_.find("*/", pos_ + 2);
        pos_ = end == std::string_view::npos ? text_.size() : end + 2;
      } else {
        return;
      }
    }
  }

  // Never past the end of the text, whatever it holds.
  std::size_t token_end(std::size_t start) const {
    return std::min(token_end_unclamped(start), text_.size());
  }
  std::size_t token_end_unclamped(std::size_t start) const {
    if (start >= text_.size()) return start;
    const char c = text_[start];
    if (c == '"') {
      std::size_t i = start + 1;
      while (i < text_.size() && text_[i] != '"') i += (text_[i] == '\\') ? 2 : 1;
      return std::min(i + 1, text_.size());
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const std::size_t end = text_.find_first_not_of("0123456789+-.eE", start);
      return end == std::string_view::npos ? text_.size() : end;
    }
    if (c == 't' || c == 'n') return start + 4;
    if (c == 'f') return start + 5;
    return start + 1;  // { } [ ]
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

class PositionedSax {
 public:
  PositionedSax(std::string_view text, std::string_view source)
      : text_(text), source_(source), cursor_(text) {}

  bool null() { return add_scalar(JsonValue::Kind::Null); }
  bool boolean(bool v) {
    JsonValue value = scalar(JsonValue::Kind::Boolean);
    value.boolean = v;
    return add(std::move(value));
  }
  bool number_integer(std::int64_t v) {
    JsonValue value = scalar(JsonValue::Kind::Integer);
    value.integer = v;
    return add(std::move(value));
  }
  bool number_unsigned(std::uint64_t v) {
    JsonValue value = scalar(JsonValue::Kind::Unsigned);
    value.unsigned_integer = v;
    return add(std::move(value));
  }
  bool number_float(double, const std::string&) { return add_scalar(JsonValue::Kind::Float); }
  bool string(std::string& v) {
    JsonValue value = scalar(JsonValue::Kind::String);
    if (v.find('\0') != std::string::npos) fail(value.offset, "string contains a NUL byte");
    value.text = std::move(v);
    return add(std::move(value));
  }
  bool binary(nlohmann::json::binary_t&) { return false; }  // never produced by JSON text

  bool start_object(std::size_t) { return open(JsonValue::Kind::Object); }
  bool start_array(std::size_t) { return open(JsonValue::Kind::Array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(std::string& k) {
    const std::size_t offset = cursor_.next_token();
    Frame& frame = stack_.back();
    frame.pending_key = std::move(k);
    frame.pending_key_offset = offset;
    frame.has_pending_key = true;
    if (frame.pending_key.find('\0') != std::string::npos) fail(offset, "key contains a NUL byte");
    const auto [it, inserted] = frame.key_offsets.emplace(frame.pending_key, offset);
    if (!inserted) {
      const LineColumn first = line_column(text_, it->second);
      fail(offset, "duplicate key (first defined at " + std::to_string(first.line) + ":" +
                       std::to_string(first.column) + ")");
    }
    return true;
  }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) {
    // nlohmann's position counts characters read, the offending one included; pointing at the
    // start of the token being read is more useful ("tru" rather than the newline after it).
    std::size_t offset = position > 0 ? position - 1 : 0;
    offset = std::min({offset, cursor_.peek(), text_.size()});
    std::string message = ex.what();
    const std::size_t column = message.find("column ");
    const std::size_t colon = column == std::string::npos ? column : message.find(": ", column);
    if (colon != std::string::npos) message = message.substr(colon + 2);
    // Drop the "last read: '<raw bytes>'" echo: the position already says where, and the raw
    // bytes may be invalid UTF-8 or terminal control sequences.
    const std::size_t echo = message.find("; last read: '");
    if (echo != std::string::npos) {
      const std::size_t expected = message.rfind("'; expected");
      message.erase(echo, expected == std::string::npos || expected < echo ? std::string::npos
                                                                           : expected + 1 - echo);
    }
    fail(offset, one_line(message));
  }

  JsonValue take_root() { return std::move(root_); }

 private:
  struct Frame {
    JsonValue value;
    std::string pending_key;
    std::size_t pending_key_offset = 0;
    bool has_pending_key = false;
    std::unordered_map<std::string, std::size_t> key_offsets;
  };

  JsonValue scalar(JsonValue::Kind kind) {
    JsonValue value;
    value.kind = kind;
    value.offset = cursor_.next_token();
    if (kind == JsonValue::Kind::Integer || kind == JsonValue::Kind::Unsigned ||
        kind == JsonValue::Kind::Float) {
      value.text = std::string(text_.substr(value.offset, cursor_.last_end() - value.offset));
    }
    return value;
  }

  bool add_scalar(JsonValue::Kind kind) { return add(scalar(kind)); }

  bool open(JsonValue::Kind kind) {
    Frame frame;
    frame.value.kind = kind;
    frame.value.offset = cursor_.next_token();
    if (stack_.size() >= kMaxJsonDepth) {
      fail(frame.value.offset, "nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    stack_.push_back(std::move(frame));
    return true;
  }

  bool close() {
    cursor_.next_token();
    JsonValue value = std::move(stack_.back().value);
    stack_.pop_back();
    return add(std::move(value));
  }

  bool add(JsonValue value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return true;
    }
    Frame& frame = stack_.back();
    if (frame.value.kind == JsonValue::Kind::Array) {
      frame.value.items.push_back(std::move(value));
    } else {
      frame.value.members.push_back(
          JsonMember{std::move(frame.pending_key), frame.pending_key_offset, std::move(value)});
      frame.pending_key.clear();
      frame.has_pending_key = false;
    }
    return true;
  }

  // Key path of the position being parsed, e.g. "network.allowedDomains[2]".
  std::string current_path() const {
    std::string path;
    for (const Frame& frame : stack_) {
      if (frame.value.kind == JsonValue::Kind::Array) {
        path += "[" + std::to_string(frame.value.items.size()) + "]";
      } else if (frame.has_pending_key) {
        if (!path.empty()) path += '.';
        path += one_line(frame.pending_key);
      }
    }
    return path;
  }

  [[noreturn]] void fail(std::size_t offset, const std::string& what) const {
    throw_config_error(source_, text_, offset, current_path(), what);
  }

  std::string_view text_;
  std::string_view source_;
  TokenCursor cursor_;
  std::vector<Frame> stack_;
  JsonValue root_;
};

// JSONC's trailing commas (`[1, 2,]`, `{"a": 1,}`), which nlohmann's reader refuses: each one
// is replaced by a space in a copy of the same length, so every offset (and line:column) stays
// that of the original text. Only a comma that follows a value and precedes `]` or `}` is
// blanked: `[,]` and `[1,,]` stay errors. Strings and comments are skipped as the reader does.
std::string blank_trailing_commas(std::string_view text) {
  std::string out(text);
  std::size_t comma = std::string::npos;  // a comma not yet followed by anything significant
  char previous = '\0';                   // the last significant character before it
  char before_comma = '\0';
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char c = out[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (c == '/' && i + 1 < out.size() && out[i + 1] == '/') {
      const std::size_t end = out.find_first_of(std::string_view("\n\r\0", 3), i);
      if (end == std::string::npos) break;
      i = end - 1;
      continue;
    }
    if (c == '/' && i + 1 < out.size() && out[i + 1] == '*') {
      const std::size_t end = out.find("*/", i + 2);
      if (end == std::string::npos) break;
      i = end + 1;
      continue;
    }
    if ((c == ']' || c == '}') && comma != std::string::npos && before_comma != '[' &&
        before_comma != '{' && before_comma != ',' && before_comma != ':' && before_comma != '\0')
      out[comma] = ' ';
    comma = std::string::npos;
    if (c == ',') {
      comma = i;
      before_comma = previous;
    } else if (c == '"') {
      std::size_t j = i + 1;
      while (j < out.size() && out[j] != '"') j += (out[j] == '\\') ? 2 : 1;
      i = std::min(j, out.size() - 1);
    }
    previous = c;
  }
  return out;
}

}  // namespace

std::string_view kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::Null:
      return "null";
    case JsonValue::Kind::Boolean:
      return "boolean";
    case JsonValue::Kind::Integer:
    case JsonValue::Kind::Unsigned:
    case JsonValue::Kind::Float:
      return "number";
    case JsonValue::Kind::String:
      return "string";
    case JsonValue::Kind::Array:
      return "array";
    case JsonValue::Kind::Object:
      return "object";
  }
  return "value";
}

LineColumn line_column(std::string_view text, std::size_t offset) {
  LineColumn out;
  if (offset > text.size()) offset = text.size();
  const std::size_t first = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;  // a BOM is invisible
  for (std::size_t i = first; i < offset; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\n') {
      ++out.line;
      out.column = 1;
    } else if ((byte & 0xC0) != 0x80) {  // count UTF-8 characters, not continuation bytes
      ++out.column;
    }
  }
  return out;
}

void throw_config_error(std::string_view source, std::string_view text, std::size_t offset,
                        std::string_view key_path, std::string_view what) {
  const LineColumn lc = line_column(text, offset);
  std::string message =
      std::string(source) + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column) + ": ";
  message += key_path.empty() ? std::string_view("top level") : key_path;
  message += ": ";
  message += what;
  throw ConfigError(message);
}

JsonValue parse_json_document(std::string_view text, std::string_view source_name) {
  const std::string jsonc = blank_trailing_commas(text);
  PositionedSax sax(jsonc, source_name);
  const bool ok = nlohmann::json::sax_parse(jsonc.begin(), jsonc.end(), &sax,
                                            nlohmann::json::input_format_t::json,
                                            /*strict=*/true, /*ignore_comments=*/true);
  if (!ok) throw_config_error(source_name, text, 0, "", "invalid JSON");
  // SECURITY: nlohmann's lexer takes a NUL byte for the end of the input, so text after one
  // (`{...}\0{"network": ...}`) would be silently ignored. A JSON text never contains a raw
  // NUL (a string spells it \u0000); one after the top-level value is what is left over.
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw_config_error(source_name, text, nul, "",
                       "NUL byte after the top-level value (nothing may follow it)");
  return sax.take_root();
}

}  // namespace fence::supervisor
