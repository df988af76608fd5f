#include "proxy-worker/http_forwarder.hpp"

#include <boost/asio/write.hpp>
#include <utility>

namespace fence::proxy_worker {

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

}  // namespace

HttpForwarder::HttpForwarder(asio::io_context& io, asio::posix::stream_descriptor& client,
                             platform::UniqueFd upstream, const HttpTarget& request,
                             std::string_view raw_head, std::string early, ForwardOptions options,
                             std::function<void(ForwardResult)> on_end)
    : client_(client),
      upstream_(io, upstream.release()),
      idle_timer_(io),
      options_(options),
      on_end_(std::move(on_end)),
      started_(Clock::now()),
      keep_alive_(client_wants_keep_alive(raw_head)),
      request_was_head_(request.upstream_head.rfind("HEAD ", 0) == 0),
      body_(request.chunked ? BodyFramer::chunked()
                            : BodyFramer::content_length(request.content_length)),
      early_(std::move(early)),
      up_out_(request.upstream_head) {}

void HttpForwarder::start() {
  // Bytes the client sent after the head: body first, then (pipelined) the next request.
  const std::size_t n = body_.accept(early_);
  if (body_.bad()) return finish(ForwardEnd::Failed);
  up_out_.append(early_, 0, n);
  pipelined_ = early_.substr(n);
  early_ = std::string();
  touch();
  arm_idle();
  forward_up();
  forward_down();
}

// Idle means no byte either way for idle_timeout: the timer re-arms for what is left of it.
void HttpForwarder::arm_idle() {
  idle_timer_.expires_at(last_activity_ + options_.idle_timeout);
  idle_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->ended_) return;
    if (Clock::now() - self->last_activity_ >= self->options_.idle_timeout) {
      return self->finish(ForwardEnd::Failed);
    }
    self->arm_idle();
  });
}

// --- the request: client -> upstream --------------------------------------------------------

void HttpForwarder::forward_up() {
  if (up_writing_ || up_reading_client_) return;
  if (!up_out_.empty()) {
    up_writing_ = true;
    asio::async_write(
        upstream_, asio::buffer(up_out_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          if (self->ended_) return;
          self->up_writing_ = false;
          if (ec) return self->finish(ForwardEnd::Failed);
          self->bytes_up_ += n;
          self->up_out_.clear();
          self->touch();
          self->forward_up();
        });
    return;
  }
  if (body_.done()) {
    up_done_ = true;
    return maybe_finish();
  }
  // SECURITY: the client is read only while the request body is incomplete; what follows the
  // body stays in pipelined_ (at most one read) until this response is over.
  up_reading_client_ = true;
  client_.async_read_some(
      asio::buffer(up_buf_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (self->ended_) return;
        self->up_reading_client_ = false;
        // The client left in the middle of its body.
        if (ec) return self->finish(ForwardEnd::Failed);
        self->touch();
        const std::string_view bytes(self->up_buf_.data(), n);
        const std::size_t used = self->body_.accept(bytes);
        if (self->body_.bad()) return self->finish(ForwardEnd::Failed);
        self->up_out_.append(bytes.substr(0, used));
        if (self->body_.done()) self->pipelined_.append(bytes.substr(used));
        self->forward_up();
      });
}

// --- the response: upstream -> client -------------------------------------------------------

void HttpForwarder::forward_down() {
  upstream_.async_read_some(
      asio::buffer(down_buf_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (self->ended_) return;
        if (ec == asio::error::eof) return self->on_upstream_eof();
        if (ec) return self->finish(ForwardEnd::Failed);
        self->touch();
        self->on_upstream_bytes(std::string_view(self->down_buf_.data(), n));
      });
}

void HttpForwarder::on_upstream_bytes(std::string_view bytes) {
  while (!bytes.empty() && !response_done_) {
    if (!head_sent_) {
      const ParseStatus status = read_response_head(bytes);
      if (status == ParseStatus::Bad) return;  // ended
      if (status == ParseStatus::NeedMore) break;
      continue;
    }
    if (framing_ == ResponseFraming::Close) {
      down_out_.append(bytes);
      break;
    }
    const std::size_t used = response_body_->accept(bytes);
    if (response_body_->bad()) return finish(ForwardEnd::Failed);
    down_out_.append(bytes.substr(0, used));
    if (response_body_->done()) response_done_ = true;
    break;  // bytes after a complete response are dropped: the origin closes anyway
  }
  flush_down();
}

// Feeds `bytes` to the response head parser and takes what the head used off their front. Done:
// a head (interim or final) was queued for the client. Bad: the forward has ended.
ParseStatus HttpForwarder::read_response_head(std::string_view& bytes) {
  if (!response_) {
    response_ = std::make_unique<HttpResponseParser>(options_.max_header_bytes, request_was_head_);
    response_fed_ = 0;
  }
  const ParseStatus status = response_->feed(bytes);
  if (status == ParseStatus::NeedMore) {
    response_fed_ += bytes.size();
    return status;
  }
  if (status == ParseStatus::Bad) {
    finish(ForwardEnd::BadResponse, response_->error_text());
    return status;
  }
  bytes.remove_prefix(response_->head_bytes() - response_fed_);
  if (response_->interim()) {  // 100 Continue and friends: relayed, a final one follows
    down_out_ += response_->client_head({});
    response_.reset();
    return status;
  }
  framing_ = response_->framing();
  // SECURITY: the client connection stays open only at a known request boundary.
  close_after_ = !keep_alive_ || framing_ == ResponseFraming::Close || !body_.done();
  down_out_ += response_->client_head(close_after_ ? "close" : "keep-alive");
  head_sent_ = true;
  if (framing_ == ResponseFraming::ContentLength) {
    response_body_ = BodyFramer::content_length(response_->content_length());
  } else if (framing_ == ResponseFraming::Chunked) {
    response_body_ = BodyFramer::chunked();
  }
  if (framing_ == ResponseFraming::None || (response_body_ && response_body_->done())) {
    response_done_ = true;
  }
  return status;
}

void HttpForwarder::on_upstream_eof() {
  if (!head_sent_) {
    return finish(ForwardEnd::BadResponse, "upstream closed the connection without a response");
  }
  if (framing_ != ResponseFraming::Close) return finish(ForwardEnd::Failed);  // truncated
  response_done_ = true;
  flush_down();
}

void HttpForwarder::flush_down() {
  if (down_writing_) return;
  if (down_out_.empty()) {
    if (response_done_) return maybe_finish();
    return forward_down();
  }
  down_writing_ = true;
  asio::async_write(
      client_, asio::buffer(down_out_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (self->ended_) return;
        self->down_writing_ = false;
        if (ec) return self->finish(ForwardEnd::Failed);
        self->bytes_down_ += n;
        self->down_out_.clear();
        self->touch();
        self->flush_down();
      });
}

// --- the end ----------------------------------------------------------------------------------

void HttpForwarder::maybe_finish() {
  if (!response_done_ || down_writing_ || !down_out_.empty()) return;
  if (close_after_) return finish(ForwardEnd::Close);
  if (!up_done_) return;  // the last body bytes are still on their way upstream
  // No operation of this forward is pending (request written, response relayed).
  finish(ForwardEnd::KeepAlive);
}

void HttpForwarder::finish(ForwardEnd end, std::string why) {
  if (ended_) return;
  ended_ = true;  // every pending handler of this forward is now stale
  idle_timer_.cancel();
  boost::system::error_code ignored;
  upstream_.close(ignored);
  ForwardResult result;
  result.end = end;
  result.bytes_up = bytes_up_;
  result.bytes_down = bytes_down_;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
  result.duration_ms = static_cast<std::uint32_t>(ms.count());
  result.why = std::move(why);
  if (end == ForwardEnd::KeepAlive) result.pipelined = std::move(pipelined_);
  auto on_end = std::move(on_end_);
  on_end_ = nullptr;  // and with it the session
  on_end(std::move(result));
}

}  // namespace fence::proxy_worker
