#include "proxy-worker/relay.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <memory>

namespace fence::proxy_worker {

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using platform::UniqueFd;

// One splice or read moves at most this much (the default pipe capacity).
// A larger pipe moves more bytes per splice (the default 64 KiB pipe halves bulk throughput);
// the kernel's unprivileged cap (fs.pipe-max-size, 1 MiB by default) applies.
constexpr std::size_t kChunk = 1024 * 1024;
// A read/write copy chunk (fallback path, request bodies).
constexpr std::size_t kCopyChunk = 16 * 1024;

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

void set_non_blocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// One direction of the tunnel: src -> (pipe | out buffer) -> dst.
struct Direction {
  asio::posix::stream_descriptor* src = nullptr;
  asio::posix::stream_descriptor* dst = nullptr;
  UniqueFd pipe_r, pipe_w;
  std::size_t in_pipe = 0;  // bytes spliced into the pipe, not yet out of it
  bool splice = false;
  std::string out;  // user-space bytes waiting for dst
  std::size_t out_done = 0;
  bool src_eof = false;
  bool done = false;
  std::uint64_t bytes = 0;
};

class Relay : public std::enable_shared_from_this<Relay> {
 public:
  Relay(asio::io_context& io, UniqueFd client, UniqueFd upstream, RelayOptions options,
        std::function<void(const RelayStats&)> on_end)
      : client_(io, client.release()),
        upstream_(io, upstream.release()),
        idle_timer_(io),
        idle_(options.idle_timeout),
        started_(Clock::now()),
        last_activity_(started_),
        on_end_(std::move(on_end)) {
    set_non_blocking(client_.native_handle());
    set_non_blocking(upstream_.native_handle());
    init(up_, client_, upstream_);
    init(down_, upstream_, client_);
    up_.out = std::move(options.early_up);  // client bytes that came with the request
  }

  void start() {
    arm_idle_timer();
    pump(up_);
    pump(down_);
  }

 private:
  static void init(Direction& d, asio::posix::stream_descriptor& src,
                   asio::posix::stream_descriptor& dst) {
    d.src = &src;
    d.dst = &dst;
    int fds[2];
    // A pipe per direction; without one (EMFILE) this direction copies through user space.
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      d.pipe_r.reset(fds[0]);
      d.pipe_w.reset(fds[1]);
      // Best effort: a smaller pipe (over the user's pipe-buffer quota) still works.
      (void)::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(kChunk));
      d.splice = true;
    }
  }

  void touch() { last_activity_ = Clock::now(); }

  void pump(Direction& d) {
    if (finished_ || d.done) return;
    const int src = d.src->native_handle();
    const int dst = d.dst->native_handle();
    for (;;) {
      // 1. Bytes already in user space go first.
      if (d.out_done < d.out.size()) {
        const ssize_t n = ::write(dst, d.out.data() + d.out_done, d.out.size() - d.out_done);
        if (n > 0) {
          d.out_done += static_cast<std::size_t>(n);
          d.bytes += static_cast<std::uint64_t>(n);
          touch();
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && would_block(errno))
          return wait(d, *d.dst, asio::posix::descriptor_base::wait_write);
        return finish();
      }
      if (!d.out.empty()) {
        d.out.clear();
        d.out_done = 0;
      }
      // 2. Then whatever sits in the pipe.
      if (d.in_pipe > 0) {
        const ssize_t n = ::splice(d.pipe_r.get(), nullptr, dst, nullptr, d.in_pipe,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          d.in_pipe -= static_cast<std::size_t>(n);
          d.bytes += static_cast<std::uint64_t>(n);
          touch();
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && would_block(errno))
          return wait(d, *d.dst, asio::posix::descriptor_base::wait_write);
        return finish();
      }
      // 3. Everything read has been written: pass an EOF on as a half-close.
      if (d.src_eof) {
        ::shutdown(dst, SHUT_WR);
        d.done = true;
        if (up_.done && down_.done) finish();
        return;
      }
      // 4. Read more.
      if (d.splice) {
        const ssize_t n = ::splice(src, nullptr, d.pipe_w.get(), nullptr, kChunk,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
          d.in_pipe = static_cast<std::size_t>(n);
          continue;
        }
        if (n == 0) {
          d.src_eof = true;
          continue;
        }
        if (errno == EINTR) continue;
        if (would_block(errno)) return wait(d, *d.src, asio::posix::descriptor_base::wait_read);
        if (errno == EINVAL || errno == ENOSYS) {  // this pair of fds cannot splice: copy
          d.splice = false;
          continue;
        }
        return finish();
      }
      d.out.resize(kCopyChunk);
      const ssize_t n = ::read(src, d.out.data(), d.out.size());
      if (n <= 0) d.out.clear();
      if (n > 0) {
        d.out.resize(static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        d.src_eof = true;
        continue;
      }
      if (errno == EINTR) continue;
      if (would_block(errno)) return wait(d, *d.src, asio::posix::descriptor_base::wait_read);
      return finish();
    }
  }

  void wait(Direction& d, asio::posix::stream_descriptor& desc,
            asio::posix::descriptor_base::wait_type type) {
    desc.async_wait(type, [self = shared_from_this(), &d](const boost::system::error_code& ec) {
      if (self->finished_) return;
      if (ec) return self->finish();
      self->pump(d);
    });
  }

  // Idle means no byte either way for idle_: the timer re-arms for what is left of the window.
  void arm_idle_timer() {
    idle_timer_.expires_at(last_activity_ + idle_);
    idle_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->finished_) return;
      if (Clock::now() - self->last_activity_ >= self->idle_) return self->finish();
      self->arm_idle_timer();
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    idle_timer_.cancel();
    boost::system::error_code ignored;
    client_.close(ignored);
    upstream_.close(ignored);
    up_.pipe_r.reset();
    up_.pipe_w.reset();
    down_.pipe_r.reset();
    down_.pipe_w.reset();
    RelayStats stats;
    stats.bytes_up = up_.bytes;
    stats.bytes_down = down_.bytes;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count();
    stats.duration_ms = static_cast<std::uint32_t>(std::min<long long>(ms, UINT32_MAX));
    auto on_end = std::move(on_end_);
    on_end_ = nullptr;
    if (on_end) on_end(stats);
  }

  asio::posix::stream_descriptor client_;
  asio::posix::stream_descriptor upstream_;
  asio::steady_timer idle_timer_;
  std::chrono::milliseconds idle_;
  Clock::time_point started_;
  Clock::time_point last_activity_;
  std::function<void(const RelayStats&)> on_end_;
  Direction up_;    // client -> upstream
  Direction down_;  // upstream -> client
  bool finished_ = false;
};

}  // namespace

void start_relay(asio::io_context& io, UniqueFd client, UniqueFd upstream, RelayOptions options,
                 std::function<void(const RelayStats&)> on_end) {
  auto relay = std::make_shared<Relay>(io, std::move(client), std::move(upstream),
                                       std::move(options), std::move(on_end));
  relay->start();
}

}  // namespace fence::proxy_worker
