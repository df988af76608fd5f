// Where the body of one absolute-form request ends in the client's byte stream. Pure and
// incremental like the head parser, so it can be unit-tested and fuzzed on bytes.
//
// Trust: every byte is hostile. HttpForwarder feeds it the client's request body (written by
// the sandboxed program) and an origin's response body (from a server the program chose, so
// no more trusted). It only counts them: its answer is where the body ends.
//
// SECURITY: the worker forwards exactly one request per upstream connection (the head that
// HttpRequestParser checked and rewrote, then this body). Bytes after the body — a pipelined
// second request, possibly with another Host — are never forwarded on that connection: they
// wait until the response is over and are then parsed and asked about as a request of their
// own. A chunked body the framer cannot read unambiguously is Bad and ends the connection, so
// the worker and the origin can never disagree about where it ends. The same framer reads
// chunked and Content-Length response bodies (keep-alive: where the response ends).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace fence::proxy_worker {

class BodyFramer {
 public:
  static BodyFramer content_length(std::uint64_t length);
  static BodyFramer chunked();

  // How many leading bytes of `bytes` belong to the body. Once done() (or bad()), returns 0.
  std::size_t accept(std::string_view bytes);
  bool done() const { return state_ == State::Done; }
  bool bad() const { return state_ == State::Bad; }

 private:
  enum class State {
    Length,        // content-length body: remaining_ bytes left
    Size,          // chunk-size hex digits
    Extension,     // chunk-ext up to CR
    SizeLf,        // LF after the chunk-size line's CR
    Data,          // remaining_ bytes of chunk data
    DataCr,        // CR after chunk data
    DataLf,        // LF after chunk data
    TrailerStart,  // start of a trailer line, or the final CRLF
    Trailer,       // inside a trailer field line
    TrailerLf,     // LF ending a trailer field line
    FinalLf,       // LF of the final empty line
    Done,
    Bad,
  };
  explicit BodyFramer(State state, std::uint64_t remaining)
      : state_(state), remaining_(remaining) {}
  void step(char c);

  State state_;
  std::uint64_t remaining_;
  int size_digits_ = 0;
  std::size_t trailer_bytes_ = 0;
};

}  // namespace fence::proxy_worker
