// libFuzzer harness for the settings file parser (supervisor/config/config.hpp): parse_config()
// reads ~/.fence.json or `-s FILE`, which may come from an untrusted repository. The input is
// the file's bytes. Any violation of the invariants below aborts.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

#include "supervisor/config/config.hpp"
#include "supervisor/policy/safe_text.hpp"

namespace {

using fence::supervisor::canonical_config_json;
using fence::supervisor::command_rules_from;
using fence::supervisor::CommandPolicy;
using fence::supervisor::Config;
using fence::supervisor::ConfigError;
using fence::supervisor::network_policy_from;
using fence::supervisor::one_line;
using fence::supervisor::parse_config;

constexpr std::string_view kSource = "<fuzz>";

void require_at(bool condition, const char* what, int line) {
  if (condition) return;
  std::fprintf(stderr, "invariant violated at line %d: %s\n", line, what);
  std::abort();
}
#define require(condition) require_at((condition), #condition, __LINE__)

[[noreturn]] void unexpected(const char* where, const char* what) {
  std::fprintf(stderr, "%s: unexpected exception: %s\n", where, what);
  std::abort();
}

// Reads a decimal number at s[pos], moving pos past it; 0 when there is none.
std::size_t read_number(std::string_view s, std::size_t& pos) {
  std::size_t n = 0;
  const std::size_t start = pos;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - start < 12) {
    n = n * 10 + static_cast<std::size_t>(s[pos] - '0');
    ++pos;
  }
  return pos == start ? 0 : n;
}

// "source:line:col: key.path: what", on one line, with line:col inside the text (columns
// count UTF-8 characters).
void check_error_message(std::string_view text, std::string_view message) {
  require(one_line(message) == message);  // no newline, control character or invalid UTF-8
  require(message.starts_with(kSource) && message.size() > kSource.size() &&
          message[kSource.size()] == ':');
  std::size_t pos = kSource.size() + 1;
  const std::size_t line = read_number(message, pos);
  require(line >= 1 && pos < message.size() && message[pos] == ':');
  ++pos;
  const std::size_t column = read_number(message, pos);
  require(column >= 1 && message.substr(pos).starts_with(": "));
  require(message.size() > pos + 2);  // something is said
  // The line exists and the column is at most one past its last character.
  std::size_t current = 1, columns = 1;
  for (std::size_t i = 0; i < text.size() && current <= line; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\n') {
      ++current;
    } else if (current == line && (byte & 0xC0) != 0x80) {
      ++columns;
    }
  }
  require(line <= current);
  require(column <= columns);
}

struct Parsed {
  bool ok = false;
  Config config;
  std::string error;
};

Parsed parse(std::string_view text) {
  Parsed out;
  try {
    out.config = parse_config(text, kSource);
    out.ok = true;
  } catch (const ConfigError& e) {
    out.error = e.what();
  } catch (const std::exception& e) {
    unexpected("parse_config", e.what());  // the header documents ConfigError only
  } catch (...) {
    unexpected("parse_config", "not a std::exception");
  }
  return out;
}

std::string canonical(const Config& config) {
  try {
    return canonical_config_json(config);
  } catch (const std::exception& e) {
    unexpected("canonical_config_json", e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Parsed first = parse(text);
  const Parsed second = parse(text);
  require(first.ok == second.ok && first.error == second.error);  // deterministic
  if (!first.ok) {
    check_error_message(text, first.error);
    return 0;
  }
  const std::string json = canonical(first.config);
  require(json == canonical(second.config));
  require(!first.config.source_path.has_value());

  // An accepted file describes policies that build: the domain entries were checked by the
  // network policy's own parser (config.cpp validate_domain), so network_policy_from() must not
  // refuse them. Command rules are only checked for blankness; CommandPolicy may refuse one
  // with std::invalid_argument (documented; fence reports it as a configuration error).
  try {
    (void)network_policy_from(first.config.network);
  } catch (const std::exception& e) {
    unexpected("network_policy_from on an accepted config", e.what());
  }
  try {
    const CommandPolicy policy(command_rules_from(first.config.command));
    (void)policy.empty();
  } catch (const std::invalid_argument& e) {
    require(one_line(e.what()) == e.what());
  } catch (const std::exception& e) {
    unexpected("CommandPolicy", e.what());
  }

  // The canonical JSON is a settings file meaning the same thing: parsed again, it gives the
  // same canonical JSON. (Its "audit": {"file": ""} stands for "no file", which a settings file
  // writes by leaving the key out: an empty path is an error.)
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const std::exception& e) {
    unexpected("canonical JSON does not parse", e.what());
  }
  require(j.is_object() && j.contains("audit") && j["audit"].contains("file"));
  if (j["audit"]["file"] == "") j["audit"].erase("file");
  const std::string again_text = j.dump();
  const Parsed again = parse(again_text);
  if (!again.ok) std::fprintf(stderr, "canonical JSON refused: %s\n", again.error.c_str());
  require(again.ok);
  require(canonical(again.config) == json);
  return 0;
}
