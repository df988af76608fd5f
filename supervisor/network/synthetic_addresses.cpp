#include "supervisor/network/synthetic_addresses.hpp"

namespace fence::supervisor {

std::optional<std::uint32_t> SyntheticAddresses::assign(const std::string& name) {
  if (const auto found = addresses_.find(name); found != addresses_.end()) return found->second;
  if (names_.size() >= kCapacity) return std::nullopt;
  const std::uint32_t address = kBase + 1 + static_cast<std::uint32_t>(names_.size());
  names_.push_back(name);
  addresses_.emplace(name, address);
  return address;
}

std::optional<std::string> SyntheticAddresses::name_for(std::uint32_t address) const {
  if (!in_range(address) || address <= kBase) return std::nullopt;
  const std::uint32_t index = address - kBase - 1;
  if (index >= names_.size()) return std::nullopt;
  return names_[index];
}

}  // namespace fence::supervisor
