#include "http_edge/sse/sse_loop.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "http_edge/sse/sse_format.h"

namespace pushbroker {
namespace {

constexpr size_t kMaxIovecs = 64;
// An outbox that grew past this many chunks (a burst) gives its room back
// once written, so an idle stream holds little.
constexpr size_t kKeptOutboxChunks = 16;

// How many bytes the peer's TCP has acknowledged on `fd`; nullopt when `fd`
// is not a TCP socket.
std::optional<uint64_t> BytesAcked(int fd) {
  tcp_info info{};
  socklen_t length = sizeof(info);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0 ||
      length < offsetof(tcp_info, tcpi_bytes_acked) + sizeof(info.tcpi_bytes_acked)) {
    return std::nullopt;
  }
  return info.tcpi_bytes_acked;
}

}  // namespace

SseLoop::SseLoop(SseLoopOptions options, ClosedCallback on_closed, ConfirmedCallback on_confirmed,
                 WrittenCallback on_written, EdgeStats* stats, StreamMemory* memory,
                 const Clock* clock)
    : options_(options),
      on_closed_(std::move(on_closed)),
      on_confirmed_(std::move(on_confirmed)),
      on_written_(std::move(on_written)),
      stats_(stats),
      memory_(memory),
      clock_(clock) {}

SseLoop::~SseLoop() { Stop(); }

absl::Status SseLoop::Start() {
  absl::StatusOr<EpollWakeup> wakeup = EpollWakeup::Create();
  if (!wakeup.ok()) return wakeup.status();
  wakeup_ = *std::move(wakeup);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void SseLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    if (thread_.joinable()) Signal();
  }
  if (thread_.joinable()) thread_.join();
}

void SseLoop::Signal() {
  if (signalled_) return;  // one wake-up is pending already
  signalled_ = true;
  wakeup_.Signal();
}

void SseLoop::Adopt(std::shared_ptr<SseStream> stream, int fd) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      adoptions_.emplace_back(std::move(stream), fd);
      Signal();
      return;
    }
  }
  ::close(fd);
  on_closed_(stream, StreamEnd::kLoopStopped);
}

void SseLoop::Wake(std::shared_ptr<SseStream> stream) {
  absl::MutexLock lock(&mu_);
  ready_.push_back(std::move(stream));
  Signal();
}

void SseLoop::WakeAll(std::vector<std::shared_ptr<StreamSink>>& streams) {
  {
    absl::MutexLock lock(&mu_);
    ready_.insert(ready_.end(), std::make_move_iterator(streams.begin()),
                  std::make_move_iterator(streams.end()));
    Signal();
  }
  streams.clear();
}

void SseLoop::TakeAdoptionsAndWakeups() {
  std::vector<std::pair<std::shared_ptr<SseStream>, int>> adoptions;
  {
    absl::MutexLock lock(&mu_);
    wakeup_.Clear();
    signalled_ = false;
    adoptions.swap(adoptions_);
    taking_.swap(ready_);
  }
  for (auto& [stream, fd] : adoptions) StartConnection(std::move(stream), fd);
  for (const auto& sink : taking_) {
    // Only this loop's SseStreams are woken here.
    auto it = fd_of_.find(static_cast<const SseStream*>(sink.get()));
    if (it == fd_of_.end()) continue;  // not adopted yet, or gone
    auto connection = connections_.find(it->second);
    if (connection != connections_.end()) Flush(connection->second);
  }
  taking_.clear();  // its room is ready_'s next turn
}

void SseLoop::StartConnection(std::shared_ptr<SseStream> stream, int fd) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  if (options_.socket_send_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options_.socket_send_buffer,
                 sizeof(options_.socket_send_buffer));
  }
  Connection& connection = connections_[fd];
  connection.stream = stream;
  connection.fd = fd;
  connection.last_progress = clock_->Now();
  // What the socket sent before (the response headers) is what it has had
  // acknowledged plus what still waits in its send queue.
  if (std::optional<uint64_t> acked = BytesAcked(fd); acked.has_value()) {
    int queued = 0;
    if (::ioctl(fd, SIOCOUTQ, &queued) != 0) queued = 0;
    connection.sent_before_adoption = *acked + static_cast<uint64_t>(queued);
  } else {
    connection.acks_known = false;
  }
  fd_of_[stream.get()] = fd;
  if (!wakeup_.Add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)) {
    return CloseConnection(fd, StreamEnd::kWriteFailed);
  }
  Flush(connection);
}

void SseLoop::Flush(Connection& connection) {
  const int fd = connection.fd;
  // A stream that overflowed while its peer was blocked ends now, whatever
  // is still waiting in the outbox.
  if (connection.stream->overflowed()) return CloseConnection(fd, StreamEnd::kSlowConsumer);
  while (true) {
    if (connection.outbox.empty() && !RefillOutbox(connection)) return;
    switch (WriteOutbox(connection)) {
      case WriteResult::kProgress:
        if (!connection.acks_known) ConfirmAcknowledged(connection);
        break;
      case WriteResult::kWouldBlock:
        return;  // EPOLLOUT resumes
      case WriteResult::kFailed:
        return CloseConnection(fd, StreamEnd::kWriteFailed);
    }
  }
}

bool SseLoop::RefillOutbox(Connection& connection) {
  while (true) {
    if (connection.end_after) {
      CloseConnection(connection.fd, StreamEnd::kServerClosed);
      return false;
    }
    SseStream::Batch batch;
    batch.chunks.swap(connection.outbox);  // empty, with its room
    connection.stream->TakeQueued(batch);
    connection.outbox.swap(batch.chunks);
    connection.outbox_front = 0;
    if (batch.abort) {
      CloseConnection(connection.fd, StreamEnd::kSlowConsumer);
      return false;
    }
    if (batch.end_after) {
      connection.end_after = true;
      connection.ending_since = clock_->Now();
    }
    if (connection.outbox.empty()) {
      if (connection.end_after) continue;  // nothing more to send: close
      return false;
    }
    connection.outbox_bytes = 0;
    connection.outbox_own_bytes = 0;
    for (const OutChunk& chunk : connection.outbox) {
      connection.outbox_bytes += chunk.size();
      connection.outbox_own_bytes += chunk.own_size();
    }
    connection.front_written = 0;
    return true;
  }
}

SseLoop::WriteResult SseLoop::WriteOutbox(Connection& connection) {
  iovec iov[kMaxIovecs];
  size_t count = 0;
  size_t skip = connection.front_written;  // within the front chunk's parts
  for (size_t i = connection.outbox_front; i < connection.outbox.size(); ++i) {
    absl::string_view parts[3];
    const int n = connection.outbox[i].Parts(parts);
    if (count + n > kMaxIovecs) break;
    for (int p = 0; p < n; ++p) {
      if (skip >= parts[p].size()) {
        skip -= parts[p].size();
        continue;
      }
      iov[count].iov_base = const_cast<char*>(parts[p].data() + skip);
      iov[count].iov_len = parts[p].size() - skip;
      skip = 0;
      ++count;
    }
  }
  msghdr message{};
  message.msg_iov = iov;
  message.msg_iovlen = count;
  ssize_t written;
  do {
    written = ::sendmsg(connection.fd, &message, MSG_NOSIGNAL);
  } while (written < 0 && errno == EINTR);
  if (written < 0) {
    return errno == EAGAIN || errno == EWOULDBLOCK ? WriteResult::kWouldBlock
                                                   : WriteResult::kFailed;
  }
  AccountWritten(connection, static_cast<size_t>(written), clock_->Now());
  return WriteResult::kProgress;
}

void SseLoop::AccountWritten(Connection& connection, size_t written, absl::Time now) {
  if (written > 0) connection.last_progress = now;
  size_t left = written;
  while (left > 0) {
    const OutChunk& front = connection.outbox[connection.outbox_front];
    const size_t size = front.size();
    const size_t rest = size - connection.front_written;
    if (left < rest) {
      connection.front_written += left;
      connection.written += left;
      return;
    }
    left -= rest;
    connection.written += rest;
    if (front.published_at != absl::InfinitePast()) {
      stats_->publish_to_write.Observe(absl::ToDoubleSeconds(now - front.published_at));
    }
    if (front.through_offset != 0) {
      connection.unconfirmed.emplace_back(connection.written, front.through_offset);
    }
    if (front.first_offset != 0 && on_written_) {
      on_written_(connection.stream, front.first_offset, front.through_offset);
    }
    connection.outbox_bytes -= size;
    connection.outbox_own_bytes -= front.own_size();
    memory_->Release(front.own_size());
    connection.front_written = 0;
    if (++connection.outbox_front == connection.outbox.size()) {
      if (connection.outbox.capacity() > kKeptOutboxChunks) {
        std::vector<OutChunk>().swap(connection.outbox);
      } else {
        connection.outbox.clear();  // the shared frames go now
      }
      connection.outbox_front = 0;
    }
  }
}

void SseLoop::ConfirmAcknowledged(Connection& connection) {
  if (connection.unconfirmed.empty()) return;
  uint64_t acked = connection.written;  // not TCP: what was written counts
  if (connection.acks_known) {
    const std::optional<uint64_t> total = BytesAcked(connection.fd);
    if (!total.has_value()) return;
    acked = *total > connection.sent_before_adoption ? *total - connection.sent_before_adoption : 0;
  }
  uint64_t through = 0;
  while (!connection.unconfirmed.empty() && connection.unconfirmed.front().first <= acked) {
    through = connection.unconfirmed.front().second;
    connection.unconfirmed.pop_front();
  }
  if (through != 0) on_confirmed_(connection.stream, through);
}

void SseLoop::DiscardInput(Connection& connection) {
  char buffer[4096];
  while (true) {
    const ssize_t n = ::recv(connection.fd, buffer, sizeof(buffer), 0);
    if (n > 0) continue;  // a browser sends nothing after its request; ignore
    if (n == 0) return CloseConnection(connection.fd, StreamEnd::kPeerClosed);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    return CloseConnection(connection.fd, StreamEnd::kPeerClosed);
  }
}

void SseLoop::CloseConnection(int fd, StreamEnd why) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  // What the peer acknowledged before the end counts as received; the rest
  // is replayed to the client's next connection.
  ConfirmAcknowledged(it->second);
  memory_->Release(it->second.outbox_own_bytes);
  std::shared_ptr<SseStream> stream = std::move(it->second.stream);
  wakeup_.Remove(fd);
  ::close(fd);
  fd_of_.erase(stream.get());
  connections_.erase(it);
  on_closed_(stream, why);
}

void SseLoop::Heartbeat(absl::Time now) {
  const OutChunk beat(EncodeChunk(EncodeSseComment("hb")));
  std::vector<int> fds;
  fds.reserve(connections_.size());
  for (const auto& [fd, connection] : connections_) fds.push_back(fd);
  for (int fd : fds) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) continue;
    Connection& connection = it->second;
    if (connection.end_after) {
      if (now - connection.ending_since > options_.close_timeout) {
        CloseConnection(fd, StreamEnd::kServerClosed);
      }
      continue;
    }
    if (!connection.outbox.empty()) {  // the peer is behind; data is pending anyway
      if (now - connection.last_progress > options_.stall_timeout) {
        CloseConnection(fd, StreamEnd::kSlowConsumer);
      }
      continue;
    }
    connection.outbox.push_back(beat);
    connection.outbox_bytes += beat.size();
    connection.outbox_own_bytes += beat.own_size();
    memory_->Add(beat.own_size());
    connection.front_written = 0;
    Flush(connection);
  }
}

void SseLoop::ExpireTokens(absl::Time now) {
  for (auto& [fd, connection] : connections_) {
    if (connection.stream->token_expires_at() <= now) connection.stream->EndForExpiredToken();
  }
}

void SseLoop::CutOverBudget() {
  if (!memory_->over_budget()) return;
  std::vector<int> cut;
  for (const auto& [fd, connection] : connections_) {
    if (memory_->MustCut(connection.outbox_bytes)) cut.push_back(fd);
  }
  for (int fd : cut) CloseConnection(fd, StreamEnd::kSlowConsumer);
}

void SseLoop::ConfirmAll() {
  for (auto& [fd, connection] : connections_) ConfirmAcknowledged(connection);
}

void SseLoop::Run() {
  epoll_event events[256];
  absl::Time next_beat = clock_->Now() + options_.heartbeat_interval;
  absl::Time next_second = clock_->Now() + absl::Seconds(1);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    const int64_t wait_ms =
        std::max<int64_t>(0, absl::ToInt64Milliseconds(next_beat - clock_->Now()) + 1);
    const int n = ::epoll_wait(wakeup_.epoll_fd(), events, 256,
                               static_cast<int>(std::min<int64_t>(wait_ms, 1000)));
    HandleEvents(events, n);
    const absl::Time now = clock_->Now();
    if (now >= next_second) {
      ExpireTokens(now);  // their wake-ups flush them on the next turn
      ConfirmAll();
      CutOverBudget();
      next_second = now + absl::Seconds(1);
    }
    if (now >= next_beat) {
      Heartbeat(now);
      next_beat = now + options_.heartbeat_interval;
    }
  }
  EndAll();
}

void SseLoop::HandleEvents(const epoll_event* events, int count) {
  for (int i = 0; i < count; ++i) {
    if (wakeup_.IsWakeup(events[i])) {
      TakeAdoptionsAndWakeups();
      continue;
    }
    const int fd = events[i].data.fd;
    auto it = connections_.find(fd);
    if (it == connections_.end()) continue;
    const uint32_t flags = events[i].events;
    if (flags & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
      CloseConnection(fd, StreamEnd::kPeerClosed);
      continue;
    }
    if (flags & EPOLLIN) {
      DiscardInput(it->second);
      it = connections_.find(fd);
      if (it == connections_.end()) continue;
    }
    if (flags & EPOLLOUT) Flush(it->second);
  }
}

void SseLoop::EndAll() {
  // Adopt what is waiting, then end every stream with the last chunk: a
  // best-effort write, since the peer may be gone or its buffer full.
  TakeAdoptionsAndWakeups();
  const absl::string_view last = LastChunk();
  std::vector<int> fds;
  for (const auto& [fd, connection] : connections_) fds.push_back(fd);
  for (int fd : fds) {
    [[maybe_unused]] const ssize_t sent =
        ::send(fd, last.data(), last.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    CloseConnection(fd, StreamEnd::kLoopStopped);
  }
}

}  // namespace pushbroker
