// Domain patterns of allowedDomains / deniedDomains: validation, normalization, matching.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "supervisor/policy/domain.hpp"

using fence::supervisor::domain_matches;
using fence::supervisor::normalize_domain_pattern;

namespace {

std::string rejection(const std::string& pattern) {
  try {
    normalize_domain_pattern(pattern);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  FAIL("expected rejection of " << pattern);
  return {};
}

}  // namespace

TEST_CASE("domain: accepted patterns are normalized", "[config][domain]") {
  CHECK(normalize_domain_pattern("example.com") == "example.com");
  CHECK(normalize_domain_pattern("GitHub.COM") == "github.com");
  CHECK(normalize_domain_pattern("example.com.") == "example.com");
  CHECK(normalize_domain_pattern("*.example.com") == "*.example.com");
  CHECK(normalize_domain_pattern("*.Example.com.") == "*.example.com");
  CHECK(normalize_domain_pattern("*.co.uk") == "*.co.uk");
  CHECK(normalize_domain_pattern("localhost") == "localhost");
  CHECK(normalize_domain_pattern("a-b.c0.io") == "a-b.c0.io");
  CHECK(normalize_domain_pattern("1password.com") == "1password.com");
  CHECK(normalize_domain_pattern("xn--bcher-kva.example") == "xn--bcher-kva.example");
  const std::string label63(63, 'a');
  CHECK(normalize_domain_pattern(label63 + ".com") == label63 + ".com");
}

TEST_CASE("domain: rejected patterns say why", "[config][domain]") {
  CHECK(rejection("*.com") ==
        "invalid domain pattern \"*.com\": wildcard is too broad; use \"*.\" followed by at "
        "least two labels");
  CHECK(rejection("*") ==
        "invalid domain pattern \"*\": \"*\" is only allowed as a leading \"*.\" (e.g. "
        "\"*.example.com\")");
  CHECK(rejection("foo.*.com") ==
        "invalid domain pattern \"foo.*.com\": \"*\" is only allowed as a leading \"*.\" (e.g. "
        "\"*.example.com\")");
  CHECK(rejection("*example.com") ==
        "invalid domain pattern \"*example.com\": \"*\" is only allowed as a leading \"*.\" "
        "(e.g. \"*.example.com\")");
  CHECK(rejection("*.*.example.com").find("only allowed as a leading") != std::string::npos);
  CHECK(rejection("http://x.com") ==
        "invalid domain pattern \"http://x.com\": remove the URL scheme");
  CHECK(rejection("x.com/path") == "invalid domain pattern \"x.com/path\": a domain has no path");
  CHECK(rejection("x.com:443") ==
        "invalid domain pattern \"x.com:443\": ports are not supported in domain entries");
  CHECK(rejection("user@x.com") ==
        "invalid domain pattern \"user@x.com\": a domain has no user info");
  CHECK(rejection("a b.com") == "invalid domain pattern \"a b.com\": whitespace is not allowed");
  CHECK(rejection("a_b.com") ==
        "invalid domain pattern \"a_b.com\": labels may contain only letters, digits and '-'");
  CHECK(rejection("-a.com") ==
        "invalid domain pattern \"-a.com\": a label must not start or end with '-'");
  CHECK(rejection("a-.com") ==
        "invalid domain pattern \"a-.com\": a label must not start or end with '-'");
  CHECK(rejection("a..com") ==
        "invalid domain pattern \"a..com\": empty label (\"..\" or a leading dot)");
  CHECK(rejection(".a.com") ==
        "invalid domain pattern \".a.com\": empty label (\"..\" or a leading dot)");
  CHECK(rejection(".") == "invalid domain pattern \".\": empty label (\"..\" or a leading dot)");
  CHECK(rejection("example.com..") ==
        "invalid domain pattern \"example.com..\": empty label (\"..\" or a leading dot)");
  CHECK(rejection(std::string(64, 'a') + ".com").find("longer than 63") != std::string::npos);
  std::string long_name;
  while (long_name.size() < 260) long_name += "abcdefghi.";
  long_name += "com";
  CHECK(rejection(long_name).find("1 to 253 characters") != std::string::npos);
  CHECK(rejection("caf\xC3\xA9.com").find("only letters, digits") != std::string::npos);
}

TEST_CASE("domain: IP literals are rejected", "[config][domain]") {
  for (const char* ip : {"1.2.3.4", "127.1", "2130706433", "0x7f000001", "10.0.0.1.", "::1",
                         "[::1]", "fe80::1", "[::ffff:127.0.0.1]"}) {
    INFO(ip);
    CHECK(rejection(ip).find("IP addresses are not supported") != std::string::npos);
  }
}

TEST_CASE("domain: matching follows fence (wildcard = strict subdomains)", "[config][domain]") {
  CHECK(domain_matches("example.com", "example.com"));
  CHECK(domain_matches("example.com", "EXAMPLE.com."));
  CHECK_FALSE(domain_matches("example.com", "www.example.com"));
  CHECK_FALSE(domain_matches("example.com", "notexample.com"));
  CHECK(domain_matches("*.example.com", "www.example.com"));
  CHECK(domain_matches("*.example.com", "a.b.example.com"));
  CHECK_FALSE(domain_matches("*.example.com", "example.com"));
  CHECK_FALSE(domain_matches("*.example.com", "badexample.com"));
  CHECK_FALSE(domain_matches("*.example.com", "example.com.evil.net"));
}
