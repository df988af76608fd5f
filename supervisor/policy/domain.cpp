#include "supervisor/policy/domain.hpp"
#include "supervisor/policy/safe_text.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace fence::supervisor {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

bool is_decimal(std::string_view label) {
  return !label.empty() &&
         std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_hex_number(std::string_view label) {
  if (label.size() < 3 || label[0] != '0' || label[1] != 'x') return false;
  return std::all_of(label.begin() + 2, label.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::vector<std::string_view> split_labels(std::string_view name) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t dot = name.find('.', pos);
    out.push_back(name.substr(pos, dot == std::string_view::npos ? dot : dot - pos));
    if (dot == std::string_view::npos) return out;
    pos = dot + 1;
  }
}

[[noreturn]] void reject(std::string_view pattern, const std::string& why) {
  throw std::invalid_argument("invalid domain pattern " + in_quotes(pattern) + ": " + why);
}

// Specific messages for the mistakes people actually make, before the generic label check.
void reject_common_mistakes(std::string_view original, std::string_view p) {
  if (p.find("://") != std::string_view::npos) reject(original, "remove the URL scheme");
  if (p.find('/') != std::string_view::npos) reject(original, "a domain has no path");
  if (p.find('@') != std::string_view::npos) reject(original, "a domain has no user info");
  if (p.find('[') != std::string_view::npos || std::count(p.begin(), p.end(), ':') > 1) {
    reject(original, "IP addresses are not supported as domain entries; use a host name");
  }
  if (p.find(':') != std::string_view::npos) {
    reject(original, "ports are not supported in domain entries");
  }
  if (p.find_first_of(" \t\r\n") != std::string_view::npos) {
    reject(original, "whitespace is not allowed");
  }
}

}  // namespace

std::string normalize_domain_pattern(std::string_view pattern) {
  if (pattern.empty()) reject(pattern, "empty");
  std::string p;
  p.reserve(pattern.size());
  for (char c : pattern) {
    if (c == '\0') reject("", "contains a NUL byte");
    p += ascii_lower(c);
  }
  reject_common_mistakes(pattern, p);
  if (p.size() > 1 && p.back() == '.') p.pop_back();  // "example.com." is the same name

  std::string_view name = p;
  const bool wildcard = name.starts_with("*.");
  if (wildcard) name.remove_prefix(2);
  if (name.find('*') != std::string_view::npos || p == "*") {
    reject(pattern, "\"*\" is only allowed as a leading \"*.\" (e.g. \"*.example.com\")");
  }
  if (name.empty() || name.size() > kMaxDomainLength) {
    reject(pattern, "a domain must be 1 to 253 characters long");
  }
  const std::vector<std::string_view> labels = split_labels(name);
  for (std::string_view label : labels) {
    if (label.empty()) reject(pattern, "empty label (\"..\" or a leading dot)");
    if (label.size() > kMaxLabelLength) reject(pattern, "a label is longer than 63 characters");
    if (!std::all_of(label.begin(), label.end(), is_ldh)) {
      reject(pattern, "labels may contain only letters, digits and '-'");
    }
    if (label.front() == '-' || label.back() == '-') {
      reject(pattern, "a label must not start or end with '-'");
    }
  }
  // SECURITY: "127.1", "2130706433" and "0x7f000001" are IPv4 literals to inet_aton and to many
  // HTTP clients. A real top-level domain is never numeric, so the last label decides.
  if (is_decimal(labels.back()) || is_hex_number(labels.back())) {
    reject(pattern, "IP addresses are not supported as domain entries; use a host name");
  }
  // SECURITY: "*.com" would allow a whole top-level domain; require two labels after "*.".
  if (wildcard && labels.size() < 2) {
    reject(pattern, "wildcard is too broad; use \"*.\" followed by at least two labels");
  }
  return p;
}

bool domain_matches(std::string_view normalized_pattern, std::string_view host) {
  std::string h;
  h.reserve(host.size());
  for (char c : host) h += ascii_lower(c);
  if (h.size() > 1 && h.back() == '.') h.pop_back();
  if (normalized_pattern.starts_with("*.")) {
    const std::string_view suffix = normalized_pattern.substr(1);  // ".example.com"
    return h.size() > suffix.size() && std::string_view(h).ends_with(suffix);
  }
  return h == normalized_pattern;
}

}  // namespace fence::supervisor
