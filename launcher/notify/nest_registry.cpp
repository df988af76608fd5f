#include "launcher/notify/nest_registry.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "ipc/protocol.hpp"
#include "platform/process.hpp"
#include "platform/sys_error.hpp"

namespace fence::launcher {
namespace {

constexpr std::size_t kMaxHeldFiles = 3;

// The parent of `pid` from /proc/PID/stat (after the last ')': state, then ppid); nullopt when
// it cannot be read (the process may be gone already).
std::optional<pid_t> parent_of(pid_t pid) {
  const std::optional<std::string> stat = platform::read_proc_text(pid, "stat");
  if (!stat) return std::nullopt;
  const std::size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat->substr(close + 1));
  std::string state;
  long parent = 0;
  if (!(rest >> state >> parent)) return std::nullopt;
  return static_cast<pid_t>(parent);
}

// The number of seccomp filters of `pid` (Seccomp_filters in /proc/PID/status).
std::optional<int> filters_of(pid_t pid) {
  const std::optional<std::string> value = platform::proc_status_field(pid, "Seccomp_filters");
  if (!value) return std::nullopt;
  try {
    return std::stoi(*value);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void answer(int fd, std::string_view text) {
  (void)!::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

NestRegistry::NestRegistry(platform::UniqueFd listener, platform::LandlockPolicy base)
    : listener_(std::move(listener)), base_(std::move(base)) {
  base_.held_files.clear();
  // The command installs one filter on top of what init has.
  command_filters_ = filters_of(::getpid()).value_or(0) + 1;
  struct stat st {};
  if (::stat(ipc::kNestSocket, &st) == 0) {
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
  }
}

bool NestRegistry::restricted_further(pid_t pid) const {
  if (!ever_registered_) return false;
  const std::optional<int> filters = filters_of(pid);
  return !filters || *filters > command_filters_;
}

bool NestRegistry::is_registration_socket(int fd) const {
  struct stat st {};
  return socket_ino_ != 0 && ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
         st.st_dev == socket_dev_ && st.st_ino == socket_ino_;
}

NestRegistry::~NestRegistry() = default;

std::vector<int> NestRegistry::poll_fds() const {
  std::vector<int> fds = {listener_.get()};
  for (const auto& [fd, connection] : connections_) fds.push_back(fd);
  return fds;
}

void NestRegistry::on_ready(int fd) {
  if (fd == listener_.get()) return accept_one();
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  // A registered connection says nothing more: anything that arrives on it, or its end,
  // ends the registration.
  if (it->second.registration) return end(fd);
  read_registration(it->second);
}

void NestRegistry::accept_one() {
  platform::UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!fd) return;
  if (connections_.size() >= kMaxNestRegistrations) return answer(fd.get(), "too many nested runs");
  // The sender's credentials come with each message (checked against the pid it names).
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) return;
  const int key = fd.get();
  connections_.emplace(key, Connection{std::move(fd), std::nullopt,
                                       std::chrono::steady_clock::now() +
                                           std::chrono::milliseconds(kNestRegisterMs)});
}

void NestRegistry::read_registration(Connection& connection) {
  const int fd = connection.fd.get();
  std::string buffer(kMaxNestRegistration, '\0');
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char
      control[CMSG_SPACE(sizeof(int) * kMaxHeldFiles) + CMSG_SPACE(sizeof(ucred))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  std::vector<platform::UniqueFd> held;
  std::optional<ucred> sender;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
        c->cmsg_len == CMSG_LEN(sizeof(ucred))) {
      ucred cred{};
      std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
      sender = cred;
      continue;
    }
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int received = -1;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
      held.emplace_back(received);
    }
  }
  if (n <= 0) return end(fd);
  std::optional<NestRegistration> registration;
  if (!(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && held.size() <= kMaxHeldFiles)
    registration =
        decode_nest_registration(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  if (!registration) {
    answer(fd, "malformed registration");
    return end(fd);
  }
  // SECURITY: a run restricts its own descendants only: the pid it names is the sender's, as
  // the kernel vouches for it (SCM_CREDENTIALS).
  if (!sender || sender->pid != registration->launcher) {
    answer(fd, "the registration names another process than its sender");
    return end(fd);
  }
  // SECURITY: only files and terminals (the run's standard streams) are held; anything else is
  // dropped (a socket held here could keep another registration open for ever).
  std::erase_if(held, [](const platform::UniqueFd& h) {
    struct stat st {};
    return ::fstat(h.get(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode));
  });
  Registration reg{registration->launcher, std::move(registration->policy), std::move(held)};
  // TCP is not the ruleset's to restrict (the network namespace is the outer run's).
  reg.policy.restrict_bind = false;
  reg.policy.restrict_connect = false;
  for (const auto& h : reg.held) reg.policy.held_files.push_back(h.get());
  // Checks now that the layers can be applied: the registering run starts only if they can.
  try {
    RestrictedThread probe(std::vector<platform::LandlockPolicy>{base_, reg.policy});
  } catch (const std::exception& e) {
    answer(fd, std::string("ruleset refused: ") + e.what());
    return end(fd);
  }
  connection.registration = std::move(reg);
  registrations_[connection.registration->launcher] = &*connection.registration;
  ever_registered_ = true;
  answer(fd, "ok");
}

void NestRegistry::end(int fd) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  if (it->second.registration) {
    const pid_t launcher = it->second.registration->launcher;
    registrations_.erase(launcher);
    std::erase_if(threads_, [&](const auto& entry) {
      return std::find(entry.first.begin(), entry.first.end(), launcher) != entry.first.end();
    });
  }
  connections_.erase(it);
}

std::optional<RestrictedThread*> NestRegistry::thread_for(pid_t pid) {
  if (!ever_registered_) return std::nullopt;
  // SECURITY: a process restricted further than the command (one seccomp filter more: a nested
  // run's) never falls back to the command's rights.
  const std::optional<int> filters = filters_of(pid);
  if (!filters) return nullptr;
  const bool restricted_further = *filters > command_filters_;
  // The registered launchers above `pid` (not `pid` itself: a launcher acts with the rights of
  // the sandbox it runs in), innermost first.
  std::vector<pid_t> chain;
  for (std::optional<pid_t> p = parent_of(pid); p != 1; p = parent_of(*p)) {
    if (!p) return restricted_further ? std::optional<RestrictedThread*>(nullptr) : std::nullopt;
    if (*p <= 0) break;
    if (registrations_.count(*p)) chain.push_back(*p);
  }
  if (chain.empty())
    return restricted_further ? std::optional<RestrictedThread*>(nullptr) : std::nullopt;
  std::reverse(chain.begin(), chain.end());
  auto found = threads_.find(chain);
  if (found != threads_.end()) return found->second.get();
  std::vector<platform::LandlockPolicy> layers = {base_};
  for (pid_t p : chain) layers.push_back(registrations_.at(p)->policy);
  try {
    auto thread = std::make_unique<RestrictedThread>(layers);
    RestrictedThread* raw = thread.get();
    threads_.emplace(chain, std::move(thread));
    return raw;
  } catch (const std::exception&) {
    return nullptr;
  }
}

void NestRegistry::expire() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<int> late;
  for (const auto& [fd, connection] : connections_)
    if (!connection.registration && connection.deadline <= now) late.push_back(fd);
  for (int fd : late) end(fd);
}

int NestRegistry::next_timeout_ms() const {
  std::optional<std::chrono::steady_clock::time_point> next;
  for (const auto& [fd, connection] : connections_)
    if (!connection.registration && (!next || connection.deadline < *next))
      next = connection.deadline;
  if (!next) return -1;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        *next - std::chrono::steady_clock::now())
                        .count();
  return left < 0 ? 0 : static_cast<int>(left) + 1;
}

}  // namespace fence::launcher
