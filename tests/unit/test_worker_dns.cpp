// The worker's DNS query reader (proxy-worker/dns_message.hpp): what a resolver library sends is
// read exactly, everything else is refused with the right code or not answered at all.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy-worker/dns_message.hpp"

using namespace fence::proxy_worker;

namespace {

using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

Bytes query(const std::string& name, std::uint16_t type = kDnsTypeA, bool edns = false,
            std::uint16_t id = 0x1234, std::uint8_t flags = 0x01) {
  Bytes b;
  put16(b, id);
  b.push_back(flags);
  b.push_back(0);
  put16(b, 1);
  put16(b, 0);
  put16(b, 0);
  put16(b, edns ? 1 : 0);
  std::size_t start = 0;
  while (start <= name.size() && !name.empty()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    b.push_back(static_cast<std::uint8_t>(dot - start));
    for (std::size_t i = start; i < dot; ++i) b.push_back(static_cast<std::uint8_t>(name[i]));
    start = dot + 1;
  }
  b.push_back(0);
  put16(b, type);
  put16(b, kDnsClassIn);
  if (edns) {
    b.push_back(0);
    put16(b, kDnsTypeOpt);
    put16(b, 1232);
    put16(b, 0);
    put16(b, 0);
    put16(b, 4);  // one option: code 10 (cookie), length 0
    put16(b, 10);
    put16(b, 0);
  }
  return b;
}

DnsRcode rcode_of(const Bytes& answer) {
  REQUIRE(answer.size() >= kDnsHeaderSize);
  return static_cast<DnsRcode>(answer[3] & 0x0f);
}

}  // namespace

TEST_CASE("dns: a resolver library's query is read exactly", "[worker][dns]") {
  for (bool edns : {false, true}) {
    const DnsParse p = parse_dns_query(query("Allowed.Example", kDnsTypeA, edns));
    REQUIRE(p.query);
    CHECK(p.query->id == 0x1234);
    CHECK(p.query->recursion_desired);
    CHECK(p.query->name == "allowed.example");
    CHECK(p.query->type == kDnsTypeA);
    CHECK(p.refusal.empty());
  }
  CHECK(parse_dns_query(query("_sip._tcp.example-1.test", 33)).query->name ==
        "_sip._tcp.example-1.test");
}

TEST_CASE("dns: the answer carries the question and one A record per address", "[worker][dns]") {
  const DnsParse p = parse_dns_query(query("a.test"));
  REQUIRE(p.query);
  const std::array<std::uint8_t, 4> addr = {198, 18, 0, 7};
  const Bytes answer = dns_answer(*p.query, DnsRcode::NoError, std::span(&addr, 1), 60);
  const Bytes q = query("a.test");
  REQUIRE(answer.size() == q.size() + 16);
  CHECK(answer[0] == 0x12);
  CHECK(answer[1] == 0x34);
  CHECK((answer[2] & 0x80) != 0);  // a response
  CHECK(rcode_of(answer) == DnsRcode::NoError);
  CHECK(answer[7] == 1);  // ANCOUNT
  CHECK(std::equal(q.begin() + 12, q.end(), answer.begin() + 12));
  CHECK(Bytes(answer.end() - 4, answer.end()) == Bytes{198, 18, 0, 7});
  // A response is never read as a query (no loop between two resolvers).
  CHECK_FALSE(parse_dns_query(answer).query);
  CHECK(parse_dns_query(answer).refusal.empty());
  // NXDOMAIN and other types: no records.
  CHECK(dns_answer(*p.query, DnsRcode::NxDomain, std::span(&addr, 1), 60).size() == q.size());
  const DnsParse aaaa = parse_dns_query(query("a.test", kDnsTypeAaaa));
  CHECK(dns_answer(*aaaa.query, DnsRcode::NoError, std::span(&addr, 1), 60).size() ==
        query("a.test", kDnsTypeAaaa).size());
}

TEST_CASE("dns: anything else is refused", "[worker][dns]") {
  // Unreadable header: no answer.
  CHECK_FALSE(parse_dns_query(Bytes(11, 0)).query);
  CHECK(parse_dns_query(Bytes(11, 0)).refusal.empty());
  CHECK(parse_dns_query(Bytes(kMaxDnsQuerySize + 1, 0)).refusal.empty());
  // Another opcode: NOTIMP.
  CHECK(rcode_of(parse_dns_query(query("a.test", kDnsTypeA, false, 1, 0x10)).refusal) ==
        DnsRcode::NotImp);
  auto formerr = [](Bytes b) {
    const DnsParse p = parse_dns_query(b);
    CHECK_FALSE(p.query);
    CHECK(rcode_of(p.refusal) == DnsRcode::FormErr);
  };
  Bytes two = query("a.test");
  two[5] = 2;  // QDCOUNT 2
  formerr(two);
  Bytes answer_count = query("a.test");
  answer_count[7] = 1;
  formerr(answer_count);
  Bytes trailing = query("a.test");
  trailing.push_back(0);
  formerr(trailing);
  Bytes compressed = query("a.test");
  compressed[12] = 0xC0;  // a pointer in the question
  formerr(compressed);
  formerr(query("bad name.test"));
  formerr(query("a\x01.test"));
  formerr(query(std::string(64, 'a') + ".test"));
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  formerr(query(long_name + "test"));
  Bytes truncated = query("a.test");
  truncated.resize(truncated.size() - 2);
  formerr(truncated);
  Bytes bad_opt = query("a.test", kDnsTypeA, true);
  bad_opt[bad_opt.size() - 14] = kDnsTypeA;  // the additional record is not OPT
  formerr(bad_opt);
  // Class other than IN: REFUSED.
  Bytes chaos = query("version.bind", 16);
  chaos[chaos.size() - 1] = 3;
  const DnsParse p = parse_dns_query(chaos);
  CHECK_FALSE(p.query);
  CHECK(rcode_of(p.refusal) == DnsRcode::Refused);
}
