#include "proxy-worker/dns_message.hpp"

namespace fence::proxy_worker {
namespace {

constexpr std::size_t kMaxNameText = 253;
constexpr std::size_t kMaxLabel = 63;
constexpr std::uint8_t kQrBit = 0x80;
constexpr std::uint8_t kOpcodeMask = 0x78;
constexpr std::uint8_t kRdBit = 0x01;
constexpr std::uint8_t kRaBit = 0x80;

std::uint16_t read16(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

bool name_byte(std::uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// A header-only answer with `rcode` and the query's id, RD copied, no sections.
std::vector<std::uint8_t> bare_answer(std::span<const std::uint8_t> m, DnsRcode rcode) {
  std::vector<std::uint8_t> out = {
      m[0], m[1], static_cast<std::uint8_t>(kQrBit | (m[2] & kRdBit)),
      static_cast<std::uint8_t>(kRaBit | static_cast<std::uint8_t>(rcode))};
  out.resize(kDnsHeaderSize, 0);
  return out;
}

// The uncompressed name at `at`: its end offset, or nullopt. `text` gets it in lower case.
std::optional<std::size_t> read_name(std::span<const std::uint8_t> m, std::size_t at,
                                     std::string& text) {
  text.clear();
  for (;;) {
    if (at >= m.size()) return std::nullopt;
    const std::uint8_t len = m[at++];
    if (len == 0) return at;
    // Compression pointers (0xC0) and the reserved label types: not in a question.
    if (len > kMaxLabel || at + len > m.size()) return std::nullopt;
    if (!text.empty()) text += '.';
    for (std::size_t i = 0; i < len; ++i) {
      const std::uint8_t c = m[at + i];
      if (!name_byte(c)) return std::nullopt;
      text += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    if (text.size() > kMaxNameText) return std::nullopt;
    at += len;
  }
}

}  // namespace

DnsParse parse_dns_query(std::span<const std::uint8_t> m) {
  DnsParse out;
  if (m.size() < kDnsHeaderSize || m.size() > kMaxDnsQuerySize) return out;
  if (m[2] & kQrBit) return out;  // a response: never answered (no loops)
  if ((m[2] & kOpcodeMask) != 0) {
    out.refusal = bare_answer(m, DnsRcode::NotImp);
    return out;
  }
  const std::uint16_t qdcount = read16(m, 4), ancount = read16(m, 6), nscount = read16(m, 8),
                      arcount = read16(m, 10);
  out.refusal = bare_answer(m, DnsRcode::FormErr);
  if (qdcount != 1 || ancount != 0 || nscount != 0 || arcount > 1) return out;
  DnsQuery q;
  const std::optional<std::size_t> name_end = read_name(m, kDnsHeaderSize, q.name);
  if (!name_end || *name_end + 4 > m.size()) return out;
  q.type = read16(m, *name_end);
  q.klass = read16(m, *name_end + 2);
  std::size_t at = *name_end + 4;
  if (arcount == 1) {
    // EDNS(0): root name, type OPT, class = UDP size, TTL = flags, then RDATA of RDLENGTH.
    if (at + 11 > m.size() || m[at] != 0 || read16(m, at + 1) != kDnsTypeOpt) return out;
    const std::uint16_t rdlength = read16(m, at + 9);
    at += 11;
    if (at + rdlength > m.size()) return out;
    at += rdlength;
  }
  if (at != m.size()) return out;
  if (q.klass != kDnsClassIn) {
    out.refusal = bare_answer(m, DnsRcode::Refused);
    return out;
  }
  q.id = read16(m, 0);
  q.recursion_desired = (m[2] & kRdBit) != 0;
  q.question.assign(m.begin() + kDnsHeaderSize, m.begin() + static_cast<long>(*name_end) + 4);
  out.query = std::move(q);
  out.refusal.clear();
  return out;
}

std::vector<std::uint8_t> dns_answer(const DnsQuery& q, DnsRcode rcode,
                                     std::span<const std::array<std::uint8_t, 4>> addresses,
                                     std::uint32_t ttl) {
  const bool answers = rcode == DnsRcode::NoError && q.type == kDnsTypeA;
  const std::size_t count = answers ? addresses.size() : 0;
  std::vector<std::uint8_t> out;
  put16(out, q.id);
  out.push_back(static_cast<std::uint8_t>(kQrBit | (q.recursion_desired ? kRdBit : 0)));
  out.push_back(static_cast<std::uint8_t>(kRaBit | static_cast<std::uint8_t>(rcode)));
  put16(out, 1);
  put16(out, static_cast<std::uint16_t>(count));
  put16(out, 0);
  put16(out, 0);
  out.insert(out.end(), q.question.begin(), q.question.end());
  for (std::size_t i = 0; i < count; ++i) {
    put16(out, 0xC000 | kDnsHeaderSize);  // the question's name
    put16(out, kDnsTypeA);
    put16(out, kDnsClassIn);
    put16(out, static_cast<std::uint16_t>(ttl >> 16));
    put16(out, static_cast<std::uint16_t>(ttl & 0xffff));
    put16(out, 4);
    out.insert(out.end(), addresses[i].begin(), addresses[i].end());
  }
  return out;
}

}  // namespace fence::proxy_worker
