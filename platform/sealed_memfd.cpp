#include "platform/sealed_memfd.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "platform/sys_error.hpp"

namespace fence::platform {
namespace {

constexpr int kRequiredSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

}  // namespace

UniqueFd make_sealed_memfd(const char* name, std::span<const std::byte> data) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw SysError("memfd_create");
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw SysError("write memfd", n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, kRequiredSeals) != 0) throw SysError("F_ADD_SEALS");
  return fd;
}

std::optional<std::vector<std::byte>> read_sealed_memfd(int fd, std::size_t size,
                                                        std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<std::vector<std::byte>> {
    if (error) *error = why;
    return std::nullopt;
  };
  // Only shmem files have seals: this also says the reads below cannot block.
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0) return fail("payload fd is not a memfd");
  if ((seals & kRequiredSeals) != kRequiredSeals) return fail("payload memfd is not sealed");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return fail("payload fd is not a file");
  if (static_cast<std::size_t>(st.st_size) != size)
    return fail("payload memfd holds " + std::to_string(st.st_size) + " bytes, the header says " +
                std::to_string(size));
  std::vector<std::byte> out(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("payload memfd: short read");
    done += static_cast<std::size_t>(n);
  }
  return out;
}

}  // namespace fence::platform
