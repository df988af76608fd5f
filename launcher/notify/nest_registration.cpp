#include "launcher/notify/nest_registration.hpp"

#include <charconv>

namespace fence::launcher {
namespace {

constexpr std::string_view kMagic = "fence-nest 1 ";
char letter_for(platform::PathAccess access) {
  switch (access) {
    case platform::PathAccess::Read:
      return 'R';
    case platform::PathAccess::Execute:
      return 'X';
    case platform::PathAccess::Write:
      return 'W';
    case platform::PathAccess::Device:
      return 'D';
  }
  return '?';
}

std::optional<platform::PathAccess> access_for(char letter) {
  switch (letter) {
    case 'R':
      return platform::PathAccess::Read;
    case 'X':
      return platform::PathAccess::Execute;
    case 'W':
      return platform::PathAccess::Write;
    case 'D':
      return platform::PathAccess::Device;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string encode_nest_registration(const NestRegistration& registration) {
  std::string text(kMagic);
  text += std::to_string(registration.launcher) + "\n";
  for (const auto& [path, access] : registration.policy.paths) {
    text += letter_for(access);
    text += ' ';
    text += path;
    text += '\n';
  }
  return text;
}

std::optional<NestRegistration> decode_nest_registration(std::string_view text) {
  if (text.size() > kMaxNestRegistration || !text.starts_with(kMagic) || text.back() != '\n' ||
      text.find('\0') != std::string_view::npos)
    return std::nullopt;
  text.remove_prefix(kMagic.size());
  NestRegistration out;
  const std::size_t end = text.find('\n');
  const std::string_view pid = text.substr(0, end);
  const auto [ptr, ec] = std::from_chars(pid.data(), pid.data() + pid.size(), out.launcher);
  if (ec != std::errc() || ptr != pid.data() + pid.size() || out.launcher <= 1) return std::nullopt;
  text.remove_prefix(end + 1);
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol + 1);
    const std::optional<platform::PathAccess> access =
        line.size() >= 3 ? access_for(line[0]) : std::nullopt;
    if (!access || line[1] != ' ' || line[2] != '/' || out.policy.paths.size() >= kMaxNestPaths)
      return std::nullopt;
    out.policy.paths.emplace_back(std::string(line.substr(2)), *access);
  }
  return out;
}

}  // namespace fence::launcher
