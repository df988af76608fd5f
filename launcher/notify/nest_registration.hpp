// The registration a nested fence run sends to the outer sandbox's init (nest_registry.hpp):
// its launcher's pid and its Landlock ruleset, as text. Pure: the registry's parser of hostile
// bytes, on its own so that a fuzz target can take it (fuzz/fuzz_nest_registration.cpp).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "platform/landlock.hpp"

namespace fence::launcher {

inline constexpr std::size_t kMaxNestRegistration = 64 * 1024;
inline constexpr std::size_t kMaxNestPaths = 512;
inline constexpr std::size_t kMaxNestRegistrations = 16;
inline constexpr int kNestRegisterMs = 5000;

struct NestRegistration {
  pid_t launcher = 0;  // the registering nested launcher, in this sandbox's pid namespace
  platform::LandlockPolicy policy;
};

// "fence-nest 1 PID\n" then one "R|X|W|D PATH\n" line per path (PathAccess Read, Execute,
// Write, Device), paths absolute, without NUL or newline.
std::string encode_nest_registration(const NestRegistration& registration);
// Strict: nullopt for anything else (unknown letters, relative or empty paths, too many
// lines, a size over kMaxNestRegistration).
std::optional<NestRegistration> decode_nest_registration(std::string_view text);

}  // namespace fence::launcher
