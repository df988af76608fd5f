// Synthetic addresses (supervisor/network/synthetic_addresses.hpp): one per name, stable for
// the session, never reused for another name, and nothing outside the range or unbound maps
// back to a name.
#include <catch2/catch.hpp>

#include <string>

#include "supervisor/network/synthetic_addresses.hpp"

using fence::supervisor::SyntheticAddresses;

namespace {
constexpr std::uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}
}  // namespace

TEST_CASE("synthetic addresses: one per name, both ways", "[synthetic]") {
  SyntheticAddresses pool;
  const auto a = pool.assign("allowed.test");
  const auto b = pool.assign("www.allowed.test");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == ip(198, 18, 0, 1));
  CHECK(*b == ip(198, 18, 0, 2));
  CHECK(pool.assign("allowed.test") == a);
  CHECK(pool.name_for(*a) == "allowed.test");
  CHECK(pool.name_for(*b) == "www.allowed.test");
  CHECK(pool.size() == 2);
}

TEST_CASE("synthetic addresses: nothing else maps to a name", "[synthetic]") {
  SyntheticAddresses pool;
  pool.assign("a.test");
  for (const std::uint32_t other :
       {ip(198, 18, 0, 0), ip(198, 18, 0, 2), ip(198, 19, 255, 255), ip(198, 17, 255, 255),
        ip(198, 20, 0, 1), ip(127, 0, 0, 1), ip(198, 51, 100, 10)})
    CHECK_FALSE(pool.name_for(other));
  CHECK(SyntheticAddresses::in_range(ip(198, 18, 0, 0)));
  CHECK(SyntheticAddresses::in_range(ip(198, 19, 255, 255)));
  CHECK_FALSE(SyntheticAddresses::in_range(ip(198, 20, 0, 0)));
  CHECK_FALSE(SyntheticAddresses::in_range(ip(198, 17, 255, 255)));
}

TEST_CASE("synthetic addresses: the range runs out, nothing is reused", "[synthetic]") {
  SyntheticAddresses pool;
  for (std::size_t i = 0; i < SyntheticAddresses::kCapacity; ++i)
    REQUIRE(pool.assign("n" + std::to_string(i) + ".test"));
  CHECK_FALSE(pool.assign("one-more.test"));
  CHECK(pool.assign("n0.test") == ip(198, 18, 0, 1));
  CHECK(pool.name_for(ip(198, 19, 255, 254)) ==
        "n" + std::to_string(SyntheticAddresses::kCapacity - 1) + ".test");
}
