// Diagnostics of the worker on its inherited stderr. Plain write(2): stdio would call fstat on
// a stream's first use, and the worker's seccomp filter kills fstat.
#pragma once

#include <string_view>

namespace fence::proxy {

// Writes "[fence:proxy] <text>\n" to fd 2 in one write; errors are ignored.
void log_line(std::string_view text);

}  // namespace fence::proxy
