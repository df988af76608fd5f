#include "launcher/notify/process_memory.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "platform/process.hpp"

namespace fence::launcher {
namespace {

constexpr std::size_t kPage = 4096;

std::string proc_path(pid_t pid, const char* entry) {
  return "/proc/" + std::to_string(pid) + "/" + entry;
}

// Reads up to `max_len` bytes of a string; `terminated` tells whether its NUL was seen.
std::optional<std::string> read_until_nul(const ProcessMemory& mem, std::uint64_t addr,
                                          std::size_t max_len, bool& terminated) {
  std::string out;
  char buf[kPage];
  terminated = false;
  while (out.size() < max_len) {
    const std::size_t page_left = kPage - (addr % kPage);
    const std::size_t want = std::min(page_left, max_len - out.size());
    const ssize_t n = mem.read(buf, want, addr);
    if (n <= 0) return std::nullopt;
    if (const void* nul = std::memchr(buf, '\0', static_cast<std::size_t>(n))) {
      out.append(buf, static_cast<std::size_t>(static_cast<const char*>(nul) - buf));
      terminated = true;
      return out;
    }
    out.append(buf, static_cast<std::size_t>(n));
    addr += static_cast<std::uint64_t>(n);
  }
  // Exactly max_len bytes read: the string is longer unless the next byte is its NUL.
  char next = 1;
  if (mem.read(&next, 1, addr) == 1 && next == '\0') terminated = true;
  return out;
}

}  // namespace

ProcessMemory ProcessMemory::open(pid_t pid) {
  ProcessMemory mem;
  mem.pid_ = pid;
  mem.file_.reset(::open(proc_path(pid, "mem").c_str(), O_RDONLY | O_CLOEXEC));
  if (!mem.file_ && errno == EACCES) mem.pidfd_ = platform::open_pidfd(pid);
  return mem;
}

ssize_t ProcessMemory::read(void* buf, std::size_t len, std::uint64_t addr) const {
  if (file_) return ::pread(file_.get(), buf, len, static_cast<off_t>(addr));
  if (!pidfd_) return -1;
  iovec local{buf, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  const ssize_t n = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
  // SECURITY: see the header; a process that is gone by now may not have been the one read.
  if (platform::pidfd_exited(pidfd_.get())) return -1;
  return n;
}

std::optional<std::string> read_string(const ProcessMemory& mem, std::uint64_t addr,
                                       std::size_t max_len, int& error) {
  bool terminated = false;
  auto s = mem.valid() ? read_until_nul(mem, addr, max_len, terminated) : std::nullopt;
  if (!s) {
    error = EFAULT;
    return std::nullopt;
  }
  if (!terminated) {
    error = ENAMETOOLONG;
    return std::nullopt;
  }
  return s;
}

std::optional<std::vector<std::uint64_t>> read_pointer_array(const ProcessMemory& mem,
                                                             std::uint64_t addr,
                                                             std::size_t max_count, bool& cut) {
  std::vector<std::uint64_t> out;
  if (!mem.valid()) return std::nullopt;
  std::uint64_t chunk[kPage / sizeof(std::uint64_t)];
  for (;;) {
    // Up to the end of the page (never into the next one, which may be unmapped), at least one
    // pointer (an unaligned one may straddle two pages: pread then needs both).
    const std::size_t page_left = kPage - (addr % kPage);
    const std::size_t want =
        std::max<std::size_t>(page_left - page_left % sizeof(std::uint64_t), sizeof(std::uint64_t));
    const ssize_t n = mem.read(chunk, want, addr);
    if (n < static_cast<ssize_t>(sizeof(std::uint64_t))) return std::nullopt;
    const std::size_t count = static_cast<std::size_t>(n) / sizeof(std::uint64_t);
    for (std::size_t i = 0; i < count; ++i) {
      if (chunk[i] == 0) return out;
      if (out.size() == max_count) {
        cut = true;
        return out;
      }
      out.push_back(chunk[i]);
    }
    addr += count * sizeof(std::uint64_t);
  }
}

std::string read_comm(pid_t pid) {
  auto text = platform::read_proc_text(pid, "comm");
  if (!text) return "?";
  std::string comm = text->substr(0, text->find('\n'));
  // comm is at most TASK_COMM_LEN - 1 bytes and has no NUL, but check rather than assume.
  comm.erase(std::remove(comm.begin(), comm.end(), '\0'), comm.end());
  if (comm.size() > 16) comm.resize(16);
  return comm.empty() ? "?" : comm;
}

mode_t read_umask(pid_t pid) {
  auto value = platform::proc_status_field(pid, "Umask");
  if (!value) return 022;
  return static_cast<mode_t>(std::strtoul(value->c_str(), nullptr, 8) & 0777);
}

}  // namespace fence::launcher
