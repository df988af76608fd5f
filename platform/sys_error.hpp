// The error type of every kernel-facing call in platform/: which operation failed and errno.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace fence::platform {

class SysError : public std::runtime_error {
 public:
  SysError(std::string what, int err)
      : std::runtime_error(what + ": " + std::strerror(err)), op_(std::move(what)), errno_(err) {}
  // Captures errno at the point of construction.
  explicit SysError(std::string what) : SysError(std::move(what), errno) {}

  const std::string& op() const noexcept { return op_; }
  int error_code() const noexcept { return errno_; }

 private:
  std::string op_;
  int errno_;
};

// Calls `fn` again while it fails with EINTR.
template <typename Fn>
auto retry_eintr(Fn&& fn) {
  for (;;) {
    auto r = fn();
    if (!(r == -1 && errno == EINTR)) return r;
  }
}

}  // namespace fence::platform
