// Strict JSON reader for configuration files: a value tree where every value and every object key
// remembers its byte offset in the source, so later schema errors can say "file:line:col".
//
// Built on nlohmann's SAX interface rather than nlohmann::json::parse because the DOM parser
// silently keeps the last of two duplicate keys, and a policy file where `"allowWrite"` appears
// twice must be an error, not a guess (SECURITY-RULES 17).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace fence::supervisor {

// Any problem with a configuration source. The message always starts with "source:line:col: "
// (or with the source path for I/O errors) and names the offending key.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Nesting deeper than this is rejected; the schema needs 3 levels, the cap keeps a hostile file
// from building a deep tree whose recursive destruction could exhaust the stack.
inline constexpr std::size_t kMaxJsonDepth = 32;

struct JsonMember;

struct JsonValue {
  enum class Kind { Null, Boolean, Integer, Unsigned, Float, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::int64_t integer = 0;            // Kind::Integer (nlohmann reports negatives this way)
  std::uint64_t unsigned_integer = 0;  // Kind::Unsigned
  std::string text;                    // Kind::String value, or a number's source spelling
  std::vector<JsonValue> items;        // Kind::Array
  std::vector<JsonMember> members;     // Kind::Object, in source order, keys unique
  std::size_t offset = 0;              // byte offset of the value's first character
};

struct JsonMember {
  std::string key;
  std::size_t key_offset = 0;  // byte offset of the key's opening quote
  JsonValue value;
};

// "object", "array", "string", "number", "boolean", "null" — for error messages.
std::string_view kind_name(JsonValue::Kind kind);

// 1-based line and column (in UTF-8 characters) of a byte offset.
struct LineColumn {
  std::size_t line = 1;
  std::size_t column = 1;
};
LineColumn line_column(std::string_view text, std::size_t offset);

// Throws ConfigError "source:line:col: key_path: what" (key_path "" prints as "top level").
[[noreturn]] void throw_config_error(std::string_view source, std::string_view text,
                                     std::size_t offset, std::string_view key_path,
                                     std::string_view what);

// Parses JSONC: JSON with // and /* */ comments and trailing commas. Rejects syntax errors,
// trailing garbage, duplicate keys, NUL bytes in strings or keys, and nesting deeper than
// kMaxJsonDepth, all as ConfigError.
JsonValue parse_json_document(std::string_view text, std::string_view source_name);

}  // namespace fence::supervisor
