#include "proxy-worker/body_framer.hpp"

#include <algorithm>

namespace fence::proxy_worker {

namespace {

// 15 hex digits keep the size below 2^60: no overflow when accumulating.
constexpr int kMaxSizeDigits = 15;
// Trailer section and chunk extensions are bounded like a head: a few KiB.
constexpr std::size_t kMaxTrailerBytes = 16 * 1024;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Bytes allowed in a chunk extension or trailer line: visible ASCII, space, tab, obs-text.
bool is_line_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

}  // namespace

BodyFramer BodyFramer::content_length(std::uint64_t length) {
  return BodyFramer(length == 0 ? State::Done : State::Length, length);
}

BodyFramer BodyFramer::chunked() {
  return BodyFramer(State::Size, 0);
}

std::size_t BodyFramer::accept(std::string_view bytes) {
  std::size_t used = 0;
  while (used < bytes.size() && state_ != State::Done && state_ != State::Bad) {
    if (state_ == State::Length || state_ == State::Data) {
      // Bulk path: body data is not inspected.
      const auto take =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size() - used));
      used += take;
      remaining_ -= take;
      if (remaining_ == 0) state_ = state_ == State::Length ? State::Done : State::DataCr;
      continue;
    }
    step(bytes[used]);
    ++used;
  }
  return state_ == State::Bad ? 0 : used;
}

// SECURITY: strict RFC 9112 §7.1 grammar with CRLF only (no bare LF, no whitespace around the
// size): anything an origin might read differently is Bad.
void BodyFramer::step(char c) {
  switch (state_) {
    case State::Size: {
      const int v = hex_value(c);
      if (v >= 0) {
        if (++size_digits_ > kMaxSizeDigits) {
          state_ = State::Bad;
          return;
        }
        remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(v);
        return;
      }
      if (size_digits_ == 0) {
        state_ = State::Bad;
      } else if (c == ';') {
        state_ = State::Extension;
      } else if (c == '\r') {
        state_ = State::SizeLf;
      } else {
        state_ = State::Bad;
      }
      return;
    }
    case State::Extension:
      if (c == '\r') {
        state_ = State::SizeLf;
      } else if (!is_line_byte(c) || ++trailer_bytes_ > kMaxTrailerBytes) {
        state_ = State::Bad;
      }
      return;
    case State::SizeLf:
      if (c != '\n') {
        state_ = State::Bad;
        return;
      }
      size_digits_ = 0;
      state_ = remaining_ == 0 ? State::TrailerStart : State::Data;
      return;
    case State::DataCr:
      state_ = c == '\r' ? State::DataLf : State::Bad;
      return;
    case State::DataLf:
      state_ = c == '\n' ? State::Size : State::Bad;
      remaining_ = 0;
      return;
    case State::TrailerStart:
      if (c == '\r') {
        state_ = State::FinalLf;
      } else if (c == ' ' || c == '\t' || !is_line_byte(c)) {
        state_ = State::Bad;  // obs-fold or control byte
      } else {
        state_ = ++trailer_bytes_ > kMaxTrailerBytes ? State::Bad : State::Trailer;
      }
      return;
    case State::Trailer:
      if (c == '\r') {
        state_ = State::TrailerLf;
      } else if (!is_line_byte(c) || ++trailer_bytes_ > kMaxTrailerBytes) {
        state_ = State::Bad;
      }
      return;
    case State::TrailerLf:
      state_ = c == '\n' ? State::TrailerStart : State::Bad;
      return;
    case State::FinalLf:
      state_ = c == '\n' ? State::Done : State::Bad;
      return;
    case State::Length:
    case State::Data:
    case State::Done:
    case State::Bad:
      return;
  }
}

}  // namespace fence::proxy_worker
