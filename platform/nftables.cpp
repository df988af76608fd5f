#include "platform/nftables.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "platform/sys_error.hpp"
#include "platform/unique_fd.hpp"

namespace fence::platform {
namespace {

constexpr const char* kTable = "fence";
constexpr int kAckTimeoutMs = 2000;

// The netlink errors in `n` bytes of answers (NLMSG_OK / NLMSG_NEXT without their comparison
// of a signed length to an unsigned one): each acknowledgement's error (0 for success).
std::vector<int> netlink_errors(const char* data, std::size_t n) {
  std::vector<int> errors;
  std::size_t left = n;
  for (const auto* h = reinterpret_cast<const nlmsghdr*>(data);
       left >= sizeof(nlmsghdr) && h->nlmsg_len >= sizeof(nlmsghdr) && h->nlmsg_len <= left;
       left -= std::min<std::size_t>(left, NLMSG_ALIGN(h->nlmsg_len)),
                   h = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(h) +
                                                         NLMSG_ALIGN(h->nlmsg_len))) {
    if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)))
      errors.push_back(-static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error);
  }
  return errors;
}

// --- rule expressions --------------------------------------------------------------------------

struct RuleDeleter {
  void operator()(nftnl_rule* r) const { nftnl_rule_free(r); }
};
using Rule = std::unique_ptr<nftnl_rule, RuleDeleter>;

nftnl_expr* expr(const char* name) {
  nftnl_expr* e = nftnl_expr_alloc(name);
  if (!e) throw SysError(std::string("nftnl_expr_alloc ") + name, ENOMEM);
  return e;
}

void load_payload(nftnl_rule* r, std::uint32_t base, std::uint32_t offset, std::uint32_t len) {
  nftnl_expr* e = expr("payload");
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
  nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
  nftnl_rule_add_expr(r, e);
}

void load_l4proto(nftnl_rule* r) {
  nftnl_expr* e = expr("meta");
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_L4PROTO);
  nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
  nftnl_rule_add_expr(r, e);
}

void compare(nftnl_rule* r, std::uint32_t op, std::span<const std::uint8_t> data) {
  nftnl_expr* e = expr("cmp");
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
  nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
  nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data.data(), static_cast<std::uint32_t>(data.size()));
  nftnl_rule_add_expr(r, e);
}

void compare_byte(nftnl_rule* r, std::uint32_t op, std::uint8_t value) {
  compare(r, op, std::span(&value, 1));
}

void compare_port(nftnl_rule* r, std::uint32_t op, std::uint16_t port) {
  const std::uint16_t be = htons(port);
  compare(r, op, std::span(reinterpret_cast<const std::uint8_t*>(&be), 2));
}

// Matches a destination outside loopback: IPv4 127.0.0.0/8 (its first byte), IPv6 ::1.
void outside_loopback(nftnl_rule* r, int family) {
  if (family == NFPROTO_IPV4) {
    load_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 1);
    compare_byte(r, NFT_CMP_NEQ, 127);
  } else {
    load_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 24, 16);
    const in6_addr loopback = IN6ADDR_LOOPBACK_INIT;
    compare(r, NFT_CMP_NEQ, std::span(loopback.s6_addr, 16));
  }
}

void protocol_is(nftnl_rule* r, std::uint8_t proto) {
  load_l4proto(r);
  compare_byte(r, NFT_CMP_EQ, proto);
}

void destination_port(nftnl_rule* r, std::uint32_t op, std::uint16_t port) {
  load_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
  compare_port(r, op, port);
}

void redirect_to(nftnl_rule* r, std::uint16_t port) {
  nftnl_expr* imm = expr("immediate");
  const std::uint16_t be = htons(port);
  nftnl_expr_set_u32(imm, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
  nftnl_expr_set(imm, NFTNL_EXPR_IMM_DATA, &be, sizeof be);
  nftnl_rule_add_expr(r, imm);
  nftnl_expr* redir = expr("redir");
  nftnl_expr_set_u32(redir, NFTNL_EXPR_REDIR_REG_PROTO_MIN, NFT_REG_1);
  nftnl_expr_set_u32(redir, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
  nftnl_rule_add_expr(r, redir);
}

void reject(nftnl_rule* r, std::uint8_t code) {
  nftnl_expr* e = expr("reject");
  nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
  nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, code);
  nftnl_rule_add_expr(r, e);
}

// --- the batch ---------------------------------------------------------------------------------

class Batch {
 public:
  Batch() : buffer_(1 << 16), batch_(mnl_nlmsg_batch_start(buffer_.data(), buffer_.size())) {
    nftnl_batch_begin(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), seq_++);
    mnl_nlmsg_batch_next(batch_);
  }
  ~Batch() { mnl_nlmsg_batch_stop(batch_); }
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  void table(int family) {
    nftnl_table* t = nftnl_table_alloc();
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, kTable);
    nlmsghdr* nlh = header(NFT_MSG_NEWTABLE, family, NLM_F_CREATE);
    nftnl_table_nlmsg_build_payload(nlh, t);
    nftnl_table_free(t);
    next();
  }

  void chain(int family, const char* name, const char* type, int priority) {
    nftnl_chain* c = nftnl_chain_alloc();
    nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, kTable);
    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
    nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_OUT);
    nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, priority);
    nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
    nlmsghdr* nlh = header(NFT_MSG_NEWCHAIN, family, NLM_F_CREATE);
    nftnl_chain_nlmsg_build_payload(nlh, c);
    nftnl_chain_free(c);
    next();
  }

  Rule rule(int family, const char* chain) {
    Rule r(nftnl_rule_alloc());
    if (!r) throw SysError("nftnl_rule_alloc", ENOMEM);
    nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, kTable);
    nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, chain);
    nftnl_rule_set_u32(r.get(), NFTNL_RULE_FAMILY, static_cast<std::uint32_t>(family));
    return r;
  }

  void add(const Rule& r, int family) {
    nlmsghdr* nlh = header(NFT_MSG_NEWRULE, family, NLM_F_CREATE | NLM_F_APPEND);
    nftnl_rule_nlmsg_build_payload(nlh, r.get());
    next();
  }

  // Sends the batch and waits for every acknowledgement; the first error is thrown.
  void commit() {
    nftnl_batch_end(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), seq_++);
    mnl_nlmsg_batch_next(batch_);
    UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
    if (!sock) throw SysError("nftables: netlink socket");
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw SysError("nftables: bind netlink socket");
    const auto size = mnl_nlmsg_batch_size(batch_);
    if (::send(sock.get(), mnl_nlmsg_batch_head(batch_), size, 0) != static_cast<ssize_t>(size))
      throw SysError("nftables: send batch");
    std::vector<char> reply(1 << 16);
    int acked = 0;
    while (acked < acks_) {
      pollfd p{sock.get(), POLLIN, 0};
      const int ready = ::poll(&p, 1, kAckTimeoutMs);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0)
        throw SysError("nftables: no answer from the kernel", ready < 0 ? errno : ETIMEDOUT);
      const ssize_t n = ::recv(sock.get(), reply.data(), reply.size(), 0);
      if (n < 0) throw SysError("nftables: receive");
      for (const int error : netlink_errors(reply.data(), static_cast<std::size_t>(n))) {
        if (error != 0) throw SysError("nftables: install rules", error);
        ++acked;
      }
    }
  }

 private:
  nlmsghdr* header(std::uint16_t type, int family, std::uint16_t flags) {
    ++acks_;
    return nftnl_nlmsg_build_hdr(static_cast<char*>(mnl_nlmsg_batch_current(batch_)), type,
                                 static_cast<std::uint16_t>(family),
                                 static_cast<std::uint16_t>(flags | NLM_F_ACK), seq_++);
  }
  void next() {
    if (!mnl_nlmsg_batch_next(batch_)) throw SysError("nftables: batch full", ENOBUFS);
  }

  std::vector<char> buffer_;
  mnl_nlmsg_batch* batch_;
  std::uint32_t seq_ = 1;
  int acks_ = 0;
};

void add_family(Batch& batch, int family, std::uint16_t tcp_port, std::uint16_t dns_port) {
  batch.table(family);
  batch.chain(family, "nat_out", "nat", -100);
  batch.chain(family, "filter_out", "filter", 0);
  if (family == NFPROTO_IPV4) {
    // DNS over TCP to any address, loopback included, before the rule for all TCP.
    Rule r = batch.rule(family, "nat_out");
    protocol_is(r.get(), IPPROTO_TCP);
    destination_port(r.get(), NFT_CMP_EQ, 53);
    redirect_to(r.get(), dns_port);
    batch.add(r, family);
  }
  {
    Rule r = batch.rule(family, "nat_out");
    outside_loopback(r.get(), family);
    protocol_is(r.get(), IPPROTO_TCP);
    redirect_to(r.get(), tcp_port);
    batch.add(r, family);
  }
  if (family == NFPROTO_IPV4) {
    // DNS to any address, loopback included (resolv.conf names a loopback address).
    Rule r = batch.rule(family, "nat_out");
    protocol_is(r.get(), IPPROTO_UDP);
    destination_port(r.get(), NFT_CMP_EQ, 53);
    redirect_to(r.get(), dns_port);
    batch.add(r, family);
  }
  const bool v4 = family == NFPROTO_IPV4;
  {
    // After the redirects: UDP still leaving loopback (any other port; IPv6 DNS too).
    Rule r = batch.rule(family, "filter_out");
    outside_loopback(r.get(), family);
    protocol_is(r.get(), IPPROTO_UDP);
    reject(r.get(), v4 ? 3 : 4);  // port unreachable
    batch.add(r, family);
  }
  {
    Rule r = batch.rule(family, "filter_out");
    outside_loopback(r.get(), family);
    load_l4proto(r.get());
    compare_byte(r.get(), NFT_CMP_NEQ, IPPROTO_TCP);
    compare_byte(r.get(), NFT_CMP_NEQ, IPPROTO_UDP);
    reject(r.get(), v4 ? 13 : 1);  // administratively prohibited
    batch.add(r, family);
  }
}

}  // namespace

void add_default_routes_over_loopback() {
  // rtnetlink, not SIOCADDRT: the route needs a preferred source. lo's addresses have host
  // scope, so a link-scope route would otherwise give sockets the source 0.0.0.0, and answers
  // (a redirected DNS query's, a reject's ICMP error) could not come back.
  UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!sock) throw SysError("routes: netlink socket");
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  int sent = 0;
  auto add = [&](int family, const void* source, std::size_t source_len) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data() + 0);
    nlh->nlmsg_type = RTM_NEWROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    nlh->nlmsg_seq = static_cast<std::uint32_t>(++sent);
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = static_cast<unsigned char>(family);
    rtm->rtm_dst_len = 0;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = RT_SCOPE_LINK;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put_u32(nlh, RTA_OIF, 1);  // lo is always the first interface of a namespace
    mnl_attr_put(nlh, RTA_PREFSRC, source_len, source);
    if (::send(sock.get(), nlh, nlh->nlmsg_len, 0) != static_cast<ssize_t>(nlh->nlmsg_len))
      throw SysError("routes: send");
    const ssize_t n = ::recv(sock.get(), buf.data(), buf.size(), 0);
    if (n < 0) throw SysError("routes: receive");
    for (const int error : netlink_errors(buf.data(), static_cast<std::size_t>(n)))
      if (error != 0 && error != EEXIST)
        throw SysError(
            family == AF_INET ? "default route over lo (IPv4)" : "default route over lo (IPv6)",
            error);
  };
  const in_addr v4 = {htonl(INADDR_LOOPBACK)};
  add(AF_INET, &v4, sizeof v4);
  const in6_addr v6 = IN6ADDR_LOOPBACK_INIT;
  add(AF_INET6, &v6, sizeof v6);
}

void install_transparent_rules(std::uint16_t tcp_port, std::uint16_t dns_port) {
  Batch batch;
  add_family(batch, NFPROTO_IPV4, tcp_port, dns_port);
  add_family(batch, NFPROTO_IPV6, tcp_port, dns_port);
  batch.commit();
}

std::string probe_transparent_rules() {
  const pid_t child = ::fork();
  if (child < 0) return std::string("fork: ") + std::strerror(errno);
  if (child == 0) {
    // Only async-signal-safe work matters here in principle; the child is a fresh copy of a
    // single-threaded caller and ends with _exit.
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) ::_exit(100);
    try {
      install_transparent_rules(41080, 41053);
    } catch (const SysError& e) {
      ::_exit(e.error_code() > 0 && e.error_code() < 99 ? e.error_code() : 99);
    }
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status)) return "the probe process died";
  const int code = WEXITSTATUS(status);
  if (code == 0) return {};
  if (code == 100) return "no user and network namespaces to try it in";
  if (code == 99) return "the rules could not be installed";
  return std::string("nftables refused: ") + std::strerror(code);
}

}  // namespace fence::platform
