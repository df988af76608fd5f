// Accumulating an HTTP message head (request or response) from untrusted bytes: shared by the
// request and response parsers. Pure, no I/O.
// Trust: every byte is hostile: HttpRequestParser feeds it a client's bytes (the sandboxed
// program's), HttpResponseParser an origin's. It keeps at most max_bytes of them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

namespace fence::proxy_worker {

class HeadBuffer {
 public:
  enum class State { NeedMore, Complete, Bad, TooLarge };

  explicit HeadBuffer(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Appends `bytes` and scans for the blank line that ends the head, refusing NUL and bare
  // CR / LF as soon as they arrive. SECURITY: never stores more than max_bytes; bytes beyond
  // the cap can only belong to a head that is refused anyway.
  State feed(std::string_view bytes) {
    data_.append(bytes.substr(0, std::min(bytes.size(), max_bytes_ - data_.size())));
    for (; scan_pos_ < data_.size(); ++scan_pos_) {
      const char c = data_[scan_pos_];
      const bool after_cr = scan_pos_ > 0 && data_[scan_pos_ - 1] == '\r';
      if (c == '\0') return bad("NUL byte");
      if (c == '\n') {
        if (!after_cr) return bad("bare LF");
        if (scan_pos_ >= 3 && data_[scan_pos_ - 2] == '\n') {
          head_size_ = scan_pos_ + 1;
          return State::Complete;
        }
      } else if (after_cr) {
        return bad("bare CR");
      }
    }
    return data_.size() >= max_bytes_ ? State::TooLarge : State::NeedMore;
  }

  bool empty() const { return data_.empty(); }
  std::string& data() { return data_; }  // what was kept so far
  const std::string& data() const { return data_; }
  std::size_t head_size() const { return head_size_; }  // on Complete, through the blank line
  const char* problem() const { return problem_; }      // on Bad
  void release() { data_ = std::string(); }

 private:
  State bad(const char* problem) {
    problem_ = problem;
    return State::Bad;
  }

  std::size_t max_bytes_;
  std::string data_;
  std::size_t scan_pos_ = 0;
  std::size_t head_size_ = 0;
  const char* problem_ = "";
};

// One line for an error reply: CR and LF would let a reason inject headers.
inline std::string single_line(std::string text) {
  std::replace(text.begin(), text.end(), '\r', ' ');
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

}  // namespace fence::proxy_worker
