// SHA-256 (FIPS 180-4), for the audit log's policy digest.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace fence::supervisor {

// SHA-256 of `data`, and as lowercase hex.
std::array<std::uint8_t, 32> sha256(std::string_view data);
std::string sha256_hex(std::string_view data);

}  // namespace fence::supervisor
