// Synthetic addresses for the transparent network path: each allowed name a program in the
// sandbox looks up gets an address of its own from 198.18.0.0/15 (RFC 2544's benchmarking
// range: never a real destination), bound one-to-one to that name for the session. A later
// connection to that address therefore names exactly one host: no CDN ambiguity, no DNS
// rebinding (the real address is resolved and checked by the supervisor at connect time).
// Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ipc/protocol.hpp"

namespace fence::supervisor {

class SyntheticAddresses {
 public:
  // 198.18.0.0/15 without its first and last address: 131,070 names per session.
  static constexpr std::uint32_t kBase = ipc::kSyntheticBase;
  static constexpr std::uint32_t kSize = ipc::kSyntheticSize;
  static constexpr std::size_t kCapacity = kSize - 2;

  // The address bound to `name` (lower case, as the DNS reader gives it), bound now if it has
  // none; nullopt when the range is used up. Host byte order.
  std::optional<std::uint32_t> assign(const std::string& name);

  // The name bound to `address` (host byte order); nullopt for any other address.
  std::optional<std::string> name_for(std::uint32_t address) const;

  // Whether `address` lies in the synthetic range at all (bound or not).
  static bool in_range(std::uint32_t address) { return (address & ~(kSize - 1)) == kBase; }

  std::size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, std::uint32_t> addresses_;
  std::vector<std::string> names_;  // index i: the name of kBase + 1 + i
};

}  // namespace fence::supervisor
