// Text that came from outside fence (a settings file, the command line, the sandbox: paths,
// argv, comm, host names) on its way into one of fence's own lines on a terminal or in a log.
//
// SECURITY: such text may hold terminal escape sequences (ESC [ ... moves the cursor, rewrites
// the title or the screen), carriage returns and newlines (a forged "fence: ..." line), C1
// controls that some terminals obey (U+009B is CSI), or bytes that are not UTF-8. Every line
// fence writes is therefore passed through one_line() where it leaves (stderr, the -m/-d
// lines), and values inside messages are written with in_quotes() so that where one starts and
// ends stays visible.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fence::supervisor {

// One code point of possibly invalid UTF-8 starting at s[i]: `length` input bytes; `valid`
// is false when the bytes there do not form a well-formed sequence (then length is 1).
struct CodePoint {
  char32_t value = 0;
  std::size_t length = 1;
  bool valid = false;
};
CodePoint next_code_point(std::string_view s, std::size_t i);

// Characters that could end a line, steer a terminal or reorder what is shown: C0, DEL, C1,
// U+2028, U+2029, and the bidirectional controls (U+061C, U+200E/F, U+202A-E, U+2066-9).
bool is_control(char32_t c);

// `text` with every control character written as an escape (\n, \r, \t, \e, \xNN, \u2028) and
// every byte that is not part of valid UTF-8 as \xNN. The result is one line of printable
// text; printable characters (any language) are kept as they are.
std::string one_line(std::string_view text);

// one_line(text) between double quotes, with '"' and '\' escaped too.
std::string in_quotes(std::string_view text);

// `text` cut to about `max_bytes` (never inside a UTF-8 character), with "... (N more bytes)"
// when anything was cut: for lines that repeat an argv, which may hold megabytes.
std::string shortened(std::string_view text, std::size_t max_bytes);

}  // namespace fence::supervisor
