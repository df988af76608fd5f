#include "supervisor/network/dns_resolver.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <semaphore>
#include <thread>

namespace fence::supervisor {

namespace {

// Never destroyed: a detached resolver thread may still release its slot during exit.
std::counting_semaphore<kMaxConcurrentResolutions>& resolver_slots() {
  static auto* slots =
      new std::counting_semaphore<kMaxConcurrentResolutions>(kMaxConcurrentResolutions);
  return *slots;
}

std::atomic<std::uint64_t> g_resolver_calls{0};

struct PendingResolve {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  ResolveResult result;
};

// SECURITY: the name decided must be the name resolved. glibc's resolver library (res_*) would try
// NAME.DOMAIN for every `search` domain of resolv.conf (before NAME itself, with `ndots`), so
// an allowed `nx.wild.test` that does not exist could come back as `nx.wild.test.corp.example`,
// a host no rule names; and it would map names through HOSTALIASES (scrubbed from the
// environment too). This thread's resolver state (`_res` is per thread) is therefore set to
// query the name as it is and only that. A trailing dot cannot do it: /etc/hosts lookups
// do not match "name.".
bool resolve_names_as_given() {
  if (::res_init() != 0) return false;
  _res.options &= ~static_cast<unsigned long>(RES_DNSRCH | RES_DEFNAMES);
  _res.options |= RES_NOALIASES;
  return true;
}

ResolveResult run_getaddrinfo(const std::string& host) {
  ResolveResult r;
  if (!resolve_names_as_given()) {
    r.error = EAI_SYSTEM;
    r.error_text = "cannot initialize the resolver";
    return r;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    r.error = rc;
    r.error_text = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
    return r;
  }
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (auto a = IpAddress::from_sockaddr(ai->ai_addr, ai->ai_addrlen)) {
      if (std::find(r.addresses.begin(), r.addresses.end(), *a) == r.addresses.end()) {
        r.addresses.push_back(*a);
      }
    }
  }
  ::freeaddrinfo(list);
  return r;
}

}  // namespace

std::uint64_t resolver_call_count() {
  return g_resolver_calls.load();
}

ResolveResult resolve_name(const std::string& host, int timeout_ms) {
  ResolveResult r;
  if (!resolver_slots().try_acquire()) {
    r.overloaded = true;
    r.error = EAI_AGAIN;
    r.error_text = "too many name resolutions in flight";
    return r;
  }
  g_resolver_calls.fetch_add(1);
  auto pending = std::make_shared<PendingResolve>();
  try {
    // Detached: a getaddrinfo that hangs past the timeout finishes on its own; the shared
    // state and the semaphore slot outlive this call.
    std::thread([pending, host] {
      ResolveResult result = run_getaddrinfo(host);
      {
        std::lock_guard lock(pending->mutex);
        pending->result = std::move(result);
        pending->done = true;
      }
      pending->done_cv.notify_all();
      resolver_slots().release();
    }).detach();
  } catch (const std::system_error& e) {
    resolver_slots().release();
    r.error = EAI_SYSTEM;
    r.error_text = std::string("cannot start resolver thread: ") + e.what();
    return r;
  }
  std::unique_lock lock(pending->mutex);
  if (!pending->done_cv.wait_for(lock, std::chrono::milliseconds(std::max(timeout_ms, 0)),
                                 [&] { return pending->done; })) {
    r.timed_out = true;
    r.error = EAI_AGAIN;
    r.error_text = "timed out after " + std::to_string(timeout_ms) + " ms";
    return r;
  }
  return std::move(pending->result);
}

void scrub_resolver_environment() {
  // glibc: resolv.conf overrides (RES_OPTIONS, LOCALDOMAIN), the hosts alias file
  // (HOSTALIASES), and the old host.conf knobs; GCONV_PATH/NLSPATH are module/catalog paths
  // the resolver's IDN and error-text paths may consult.
  for (const char* name :
       {"HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "RESOLV_HOST_CONF", "RESOLV_MULTI",
        "RESOLV_REORDER", "RESOLV_SPOOF_CHECK", "RESOLV_ADD_TRIM_DOMAINS",
        "RESOLV_OVERRIDE_TRIM_DOMAINS", "GCONV_PATH", "NLSPATH", "LOCPATH"}) {
    ::unsetenv(name);
  }
}

}  // namespace fence::supervisor
