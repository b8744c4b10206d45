#include "http_edge/server/request_gate.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "http_edge/json_error.h"
#include "io/epoll_wakeup.h"

namespace pushbroker {
namespace {

constexpr absl::Duration kTick = absl::Milliseconds(250);

// A complete response that closes the connection, written without blocking:
// it is small, and a peer whose buffer is full loses it.
void Answer(int fd, int status, absl::string_view reason, absl::string_view code,
            absl::string_view message) {
  const std::string body = JsonErrorBody(status, code, message);
  const std::string response = absl::StrCat(
      "HTTP/1.1 ", status, " ", reason,
      "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ", body.size(),
      "\r\n\r\n", body);
  if (::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) return;
}

// Reads what is buffered so close() sends FIN instead of RST, which could
// destroy the answer before the peer reads it.
void DiscardBuffered(int fd) {
  char sink[4096];
  for (int i = 0; i < 64; ++i) {
    if (::recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0) break;
  }
}

}  // namespace

RequestGate::RequestGate(RequestGateOptions options, ReadyCallback on_ready, const Clock* clock)
    : options_(options), on_ready_(std::move(on_ready)), clock_(clock) {}

RequestGate::~RequestGate() { Stop(); }

absl::Status RequestGate::Start() {
  absl::StatusOr<EpollWakeup> wakeup = EpollWakeup::Create();
  if (!wakeup.ok()) return wakeup.status();
  wakeup_ = *std::move(wakeup);
  {
    absl::MutexLock lock(&mu_);
    peek_buffer_.resize(options_.max_head_bytes + options_.max_body_bytes + 1);
  }
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void RequestGate::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (thread_.joinable()) {
    wakeup_.Signal();
    thread_.join();
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [fd, pending] : pending_) {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
  pending_.clear();
}

size_t RequestGate::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

void RequestGate::Admit(int fd, uint32_t served) {
  absl::MutexLock lock(&mu_);
  if (stopped_) {
    ::close(fd);
    return;
  }
  if (pending_.size() >= options_.max_pending) EvictOldestLocked();
  Pending& pending = pending_[fd];
  pending.served = served;
  pending.sequence = next_sequence_++;
  // A new connection's head timer starts at once; a kept-alive one may idle
  // first, and its timer starts with the next head's first byte.
  pending.deadline = clock_->Now() + (served == 0 ? options_.head_timeout : options_.idle_timeout);
  // Edge-triggered: a partial head wakes the gate again only when more arrives.
  if (!wakeup_.Add(fd, EPOLLIN | EPOLLRDHUP | EPOLLET)) {
    pending_.erase(fd);
    ::close(fd);
  }
}

void RequestGate::EvictOldestLocked() {
  auto oldest = pending_.end();
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (oldest == pending_.end() || it->second.sequence < oldest->second.sequence) oldest = it;
  }
  if (oldest == pending_.end()) return;
  stats_.evicted.fetch_add(1, std::memory_order_relaxed);
  Release(oldest->first, Verdict::kClosed);
}

RequestGate::Verdict RequestGate::Inspect(int fd, Pending& pending, bool peer_done) {
  const ssize_t n = ::recv(fd, peek_buffer_.data(), peek_buffer_.size(), MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return Verdict::kClosed;
  if (n < 0) {
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? Verdict::kWaiting
                                                                     : Verdict::kClosed;
  }
  const absl::string_view seen(peek_buffer_.data(), static_cast<size_t>(n));
  const size_t line_end = seen.find("\r\n");
  const size_t line_length = line_end == absl::string_view::npos ? seen.size() : line_end + 2;
  if (line_length > options_.max_request_line_bytes) return Verdict::kLineTooLong;
  if (const size_t head_end = seen.find("\r\n\r\n"); head_end != absl::string_view::npos) {
    if (head_end + 4 > options_.max_head_bytes) return Verdict::kHeadTooLarge;
    return InspectBody(seen.substr(0, head_end + 4), seen.size(), pending, peer_done);
  }
  if (seen.size() > options_.max_head_bytes) return Verdict::kHeadTooLarge;
  if (peer_done) return Verdict::kClosed;  // the rest of the head will never come
  if (!pending.bytes_seen) {
    pending.bytes_seen = true;
    if (pending.served > 0) pending.deadline = clock_->Now() + options_.head_timeout;
  }
  return Verdict::kWaiting;
}

RequestGate::Verdict RequestGate::InspectBody(absl::string_view head, size_t buffered,
                                              Pending& pending, bool peer_done) {
  std::optional<uint64_t> content_length;
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;  // the request line, the blank end
    const absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) return Verdict::kLengthRequired;
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t length = 0;
      if (value.empty() || value.find_first_not_of("0123456789") != absl::string_view::npos ||
          !absl::SimpleAtoi(value, &length) ||
          (content_length.has_value() && *content_length != length)) {
        return Verdict::kBadLength;
      }
      content_length = length;
    }
  }
  const uint64_t body = content_length.value_or(0);
  if (body > options_.max_body_bytes) return Verdict::kBodyTooLarge;
  if (buffered >= head.size() + body) return Verdict::kReady;
  if (peer_done) return Verdict::kClosed;  // the rest of the body will never come
  if (!pending.head_complete) {
    pending.head_complete = true;
    pending.bytes_seen = true;
    pending.deadline = clock_->Now() + options_.body_timeout;
  }
  return Verdict::kWaiting;
}

void RequestGate::Release(int fd, Verdict verdict) {
  pending_.erase(fd);
  wakeup_.Remove(fd);
  switch (verdict) {
    case Verdict::kTimedOut:
      stats_.head_timeouts.fetch_add(1, std::memory_order_relaxed);
      Answer(fd, 408, "Request Timeout", "request_timeout",
             absl::StrCat("the request head did not arrive within --http_head_timeout=",
                          absl::FormatDuration(options_.head_timeout)));
      break;
    case Verdict::kLineTooLong:
      stats_.head_too_large.fetch_add(1, std::memory_order_relaxed);
      Answer(fd, 414, "URI Too Long", "uri_too_long",
             absl::StrCat("the request line is longer than --max_request_line_bytes=",
                          options_.max_request_line_bytes));
      break;
    case Verdict::kBodyTimedOut:
      stats_.body_timeouts.fetch_add(1, std::memory_order_relaxed);
      Answer(fd, 408, "Request Timeout", "request_timeout",
             absl::StrCat("the request body did not arrive within --http_body_timeout=",
                          absl::FormatDuration(options_.body_timeout)));
      break;
    case Verdict::kBodyTooLarge:
      stats_.body_refused.fetch_add(1, std::memory_order_relaxed);
      Answer(fd, 413, "Payload Too Large", "body_too_large",
             absl::StrCat("the request body is larger than --max_request_body_bytes=",
                          options_.max_body_bytes));
      break;
    case Verdict::kLengthRequired:
      stats_.body_refused.fetch_add(1, std::memory_order_relaxed);
      Answer(fd, 411, "Length Required", "length_required",
             "a request body must come with Content-Length, not Transfer-Encoding");
      break;
    case Verdict::kBadLength:
      stats_.body_refused.fetch_add(1, std::memory_order_relaxed);
      Answer(fd, 400, "Bad Request", "bad_request", "the Content-Length header is not valid");
      break;
    case Verdict::kHeadTooLarge:
      stats_.head_too_large.fetch_add(1, std::memory_order_relaxed);
      Answer(fd, 431, "Request Header Fields Too Large", "headers_too_large",
             absl::StrCat("the request head is larger than --max_request_head_bytes=",
                          options_.max_head_bytes));
      break;
    default:
      break;
  }
  DiscardBuffered(fd);
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

void RequestGate::Expire(absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<int, Verdict>> expired;
  for (const auto& [fd, pending] : pending_) {
    // A silent connection just closes; a half-sent head hears why.
    if (pending.deadline <= now) {
      expired.emplace_back(fd, pending.head_complete ? Verdict::kBodyTimedOut
                               : pending.bytes_seen  ? Verdict::kTimedOut
                                                     : Verdict::kClosed);
    }
  }
  for (const auto& [fd, verdict] : expired) Release(fd, verdict);
}

void RequestGate::Run() {
  epoll_event events[256];
  absl::Time next_tick = clock_->Now() + kTick;
  while (true) {
    const int n = ::epoll_wait(wakeup_.epoll_fd(), events, 256,
                               static_cast<int>(absl::ToInt64Milliseconds(kTick)));
    std::vector<std::pair<int, uint32_t>> ready;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      for (int i = 0; i < n; ++i) {
        if (wakeup_.IsWakeup(events[i])) continue;  // Stop(); level-triggered, never cleared
        const int fd = events[i].data.fd;
        auto it = pending_.find(fd);
        if (it == pending_.end()) continue;
        const uint32_t flags = events[i].events;
        const Verdict verdict =
            (flags & (EPOLLERR | EPOLLHUP)) != 0
                ? Verdict::kClosed
                : Inspect(fd, it->second, /*peer_done=*/(flags & EPOLLRDHUP) != 0);
        if (verdict == Verdict::kWaiting) continue;
        if (verdict == Verdict::kReady) {
          ready.emplace_back(fd, it->second.served);
          pending_.erase(it);
          wakeup_.Remove(fd);
          continue;
        }
        Release(fd, verdict);
      }
    }
    for (const auto& [fd, served] : ready) {
      stats_.passed.fetch_add(1, std::memory_order_relaxed);
      on_ready_(fd, served);
    }
    const absl::Time now = clock_->Now();
    if (now >= next_tick) {
      Expire(now);
      next_tick = now + kTick;
    }
  }
}

}  // namespace pushbroker
