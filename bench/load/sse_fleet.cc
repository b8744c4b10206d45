#include "bench/load/sse_fleet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pushbroker::bench {

struct SseFleet::Stream {
  enum class State { kIdle, kConnecting, kHead, kBody };
  size_t index = 0;
  std::string client_id;
  State state = State::kIdle;
  int fd = -1;
  std::string head;  // response head bytes so far
  ChunkDecoder chunks;
  SseParser parser;
  bool closed_by_us = false;
  size_t connects = 0;  // attempts so far: picks the port among several
  absl::Time reconnect_at = absl::InfiniteFuture();
};

uint64_t RaiseFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

SseFleet::SseFleet(FleetOptions options, EventCallback on_event, StateCallback on_state)
    : options_(options), on_event_(std::move(on_event)), on_state_(std::move(on_state)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
}

SseFleet::~SseFleet() {
  for (auto& stream : streams_) {
    if (stream->fd >= 0) ::close(stream->fd);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

size_t SseFleet::Add(const std::string& client_id, const std::string& last_event_id) {
  auto stream = std::make_unique<Stream>();
  stream->index = streams_.size();
  stream->client_id = client_id;
  if (!last_event_id.empty()) {
    // Seed the parser's last event id, as a page resuming from storage would.
    std::vector<SseEvent> ignored;
    stream->parser.Feed(absl::StrCat("id: ", last_event_id, "\n\n"), &ignored);
  }
  streams_.push_back(std::move(stream));
  waiting_.push_back(streams_.size() - 1);
  return streams_.size() - 1;
}

const std::string& SseFleet::last_event_id(size_t stream) const {
  return streams_[stream]->parser.last_event_id();
}

void SseFleet::StartConnect(size_t index) {
  Stream& stream = *streams_[index];
  ++counters_.connects;
  stream.reconnect_at = absl::InfiniteFuture();
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ++counters_.failed;
    stream.reconnect_at = absl::Now() + absl::Seconds(1);
    return;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 +
                                 static_cast<uint32_t>(next_source_++ % options_.source_addresses));
  ::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof(source));
  sockaddr_in target{};
  target.sin_family = AF_INET;
  const int port = options_.ports.empty()
                       ? options_.port
                       : options_.ports[(stream.index + stream.connects++) % options_.ports.size()];
  target.sin_port = htons(static_cast<uint16_t>(port));
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0 &&
      errno != EINPROGRESS) {
    ::close(fd);
    ++counters_.failed;
    stream.reconnect_at = absl::Now() + absl::Seconds(1);
    return;
  }
  stream.fd = fd;
  stream.state = Stream::State::kConnecting;
  stream.head.clear();
  stream.chunks = ChunkDecoder();
  stream.closed_by_us = false;
  ++connecting_;
  epoll_event event{};
  event.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
  event.data.u64 = index;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
}

void SseFleet::OnWritable(Stream& stream) {
  int error = 0;
  socklen_t length = sizeof(error);
  ::getsockopt(stream.fd, SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) {
    Close(stream, absl::Now(), true);
    return;
  }
  std::string request =
      absl::StrCat("GET /v1/events?client_id=", stream.client_id,
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n");
  if (!stream.parser.last_event_id().empty()) {
    absl::StrAppend(&request, "Last-Event-ID: ", stream.parser.last_event_id(), "\r\n");
  }
  request += "\r\n";
  // A request this small always fits a fresh connection's socket buffer.
  if (::send(stream.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    Close(stream, absl::Now(), true);
    return;
  }
  stream.state = Stream::State::kHead;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP;
  event.data.u64 = stream.index;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, stream.fd, &event);
}

void SseFleet::Close(Stream& stream, absl::Time now, bool schedule_reconnect) {
  if (stream.fd < 0) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, stream.fd, nullptr);
  ::close(stream.fd);
  stream.fd = -1;
  if (stream.state == Stream::State::kConnecting || stream.state == Stream::State::kHead) {
    --connecting_;
    ++counters_.failed;
  } else if (stream.state == Stream::State::kBody) {
    --open_;
    ++counters_.ended;
    if (on_state_) on_state_(stream.index, false, now);
  }
  stream.state = Stream::State::kIdle;
  if (schedule_reconnect && options_.reconnect) {
    // EventSource waits the advised retry, then reconnects with Last-Event-ID.
    stream.reconnect_at = now + absl::Milliseconds(stream.parser.retry_ms().value_or(3000));
  }
}

void SseFleet::OnReadable(Stream& stream, absl::Time now) {
  char buffer[65536];
  while (stream.fd >= 0) {
    const ssize_t n = ::recv(stream.fd, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      Close(stream, now, !stream.closed_by_us);
      return;
    }
    absl::string_view bytes(buffer, static_cast<size_t>(n));
    if (stream.state == Stream::State::kHead) {
      stream.head.append(bytes.data(), bytes.size());
      const size_t end = stream.head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      if (!absl::StartsWith(stream.head, "HTTP/1.1 200")) {
        Close(stream, now, true);
        return;
      }
      --connecting_;
      ++open_;
      ++counters_.opened;
      stream.state = Stream::State::kBody;
      if (on_state_) on_state_(stream.index, true, now);
      // What followed the head in the same read is body.
      const size_t body_at = end + 4;
      stream.head.erase(0, body_at);
      bytes = stream.head;
    }
    scratch_body_.clear();
    const bool ok = stream.chunks.Feed(bytes, &scratch_body_);
    stream.head.clear();
    if (!ok) {
      Close(stream, now, true);
      return;
    }
    scratch_events_.clear();
    stream.parser.Feed(scratch_body_, &scratch_events_);
    for (const SseEvent& event : scratch_events_) {
      ++counters_.events;
      on_event_(stream.index, event, now);
    }
    if (stream.chunks.finished()) {
      Close(stream, now, true);
      return;
    }
  }
}

void SseFleet::StartDueConnects(absl::Time now) {
  // Streams waiting to (re)connect, in order, at most max_connecting at once.
  for (auto& stream : streams_) {
    if (stream->state == Stream::State::kIdle && stream->fd < 0 && stream->reconnect_at <= now) {
      stream->reconnect_at = absl::InfiniteFuture();
      waiting_.push_back(stream->index);
    }
  }
  size_t taken = 0;
  while (taken < waiting_.size() && connecting_ < options_.max_connecting) {
    StartConnect(waiting_[taken++]);
  }
  waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(taken));
}

bool SseFleet::RunUntil(const std::function<bool()>& done, absl::Time deadline) {
  epoll_event events[1024];
  absl::Time next_scan = absl::InfinitePast();
  while (!done()) {
    absl::Time now = absl::Now();
    if (now >= deadline) return false;
    // Scanning every stream for due reconnects costs O(n): a few times a second.
    if (now >= next_scan || (!waiting_.empty() && connecting_ < options_.max_connecting)) {
      StartDueConnects(now);
      next_scan = now + absl::Milliseconds(20);
    }
    const int n = ::epoll_wait(epoll_fd_, events, 1024, 5);
    now = absl::Now();
    for (int i = 0; i < n; ++i) {
      Stream& stream = *streams_[events[i].data.u64];
      if (stream.fd < 0) continue;
      if (stream.state == Stream::State::kConnecting && (events[i].events & EPOLLOUT)) {
        OnWritable(stream);
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) OnReadable(stream, now);
    }
  }
  return true;
}

void SseFleet::CloseAll() {
  const absl::Time now = absl::Now();
  for (auto& stream : streams_) {
    stream->closed_by_us = true;
    Close(*stream, now, /*schedule_reconnect=*/false);
    stream->reconnect_at = absl::InfiniteFuture();
  }
  waiting_.clear();
}

void SseFleet::Reopen(size_t stream) { waiting_.push_back(stream); }

void SseFleet::Restart(size_t index) {
  Stream& stream = *streams_[index];
  if (stream.fd < 0) return;
  stream.closed_by_us = true;
  Close(stream, absl::Now(), /*schedule_reconnect=*/false);
  waiting_.push_back(index);
}

}  // namespace pushbroker::bench
