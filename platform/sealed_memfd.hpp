// Bytes handed from one fence process to another in a memfd that neither side can change once
// it is written: for IPC payloads larger than a datagram (ipc/frame.hpp).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "platform/unique_fd.hpp"

namespace fence::platform {

// A memfd (close-on-exec) holding exactly `data`, sealed against writes, growing, shrinking
// and further seal changes. Throws SysError.
UniqueFd make_sealed_memfd(const char* name, std::span<const std::byte> data);

// A copy of the content of `fd`, which must be a memfd sealed as above and hold exactly
// `size` bytes. SECURITY: the fd comes from a less trusted peer: anything else (a file that
// could block or change while read, another size) is refused, with the reason in *error.
std::optional<std::vector<std::byte>> read_sealed_memfd(int fd, std::size_t size,
                                                        std::string* error);

}  // namespace fence::platform
