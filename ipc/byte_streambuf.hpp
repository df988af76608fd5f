// std::streambuf adapters between cereal's binary archives and byte buffers, so payloads are
// encoded into and decoded from memory without an intermediate std::string copy.
#pragma once

#include <cstddef>
#include <span>
#include <streambuf>
#include <utility>
#include <vector>

namespace fence::ipc {

// Reads from a fixed span. remaining() tells whether the decoder consumed everything.
class SpanReadBuf : public std::streambuf {
 public:
  explicit SpanReadBuf(std::span<const std::byte> bytes) {
    // std::streambuf's get area is non-const char*; it is only ever read through.
    char* begin = const_cast<char*>(reinterpret_cast<const char*>(bytes.data()));
    setg(begin, begin, begin + bytes.size());
  }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
};

// Appends to a vector, refusing to grow past `limit` bytes (a short write makes cereal throw).
class VectorWriteBuf : public std::streambuf {
 public:
  explicit VectorWriteBuf(std::size_t limit) : limit_(limit) {}
  std::vector<std::byte> take() { return std::move(out_); }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    const std::size_t room = limit_ - out_.size();
    const std::size_t take =
        static_cast<std::size_t>(n) < room ? static_cast<std::size_t>(n) : room;
    const auto* p = reinterpret_cast<const std::byte*>(s);
    out_.insert(out_.end(), p, p + take);
    return static_cast<std::streamsize>(take);
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    const char ch = traits_type::to_char_type(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }

 private:
  std::size_t limit_;
  std::vector<std::byte> out_;
};

}  // namespace fence::ipc
