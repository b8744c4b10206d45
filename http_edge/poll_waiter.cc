#include "http_edge/poll_waiter.h"

#include <poll.h>

#include <algorithm>

namespace pushbroker {
namespace {
// How often a waiting poll looks at the edge's stopping flag and its peer.
constexpr absl::Duration kStopCheck = absl::Milliseconds(100);

// True when the peer closed or reset the connection. Bytes it sent (a
// pipelined request) do not count.
bool PeerGone(int fd) {
  if (fd < 0) return false;
  pollfd pfd{fd, POLLRDHUP, 0};
  return ::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}
}  // namespace

void PollWaiter::Deliver(const Message& message, FanoutBatch&) {
  absl::MutexLock lock(&mu_);
  messages_.push_back(message);
}

void PollWaiter::Close(CloseCause cause, uint32_t retry_ms) {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  if (cause == CloseCause::kDisconnected || cause == CloseCause::kShutdown) retry_ms_ = retry_ms;
}

bool PollWaiter::Wait(absl::Duration timeout, const std::atomic<bool>& stopping, int peer_fd) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !messages_.empty() || closed_; };
  while (!done() && !stopping.load()) {
    if (PeerGone(peer_fd)) return false;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    mu_.AwaitWithTimeout(absl::Condition(&done), std::min(left, kStopCheck));
  }
  return true;
}

std::vector<Message> PollWaiter::TakeFrom(MessageId first) {
  absl::MutexLock lock(&mu_);
  std::vector<Message> out;
  MessageId next = first;
  for (Message& message : messages_) {
    if (message.id.epoch == next.epoch && message.id.offset < next.offset) continue;
    if (message.id != next) break;  // a gap: the next poll reads it from the mailbox
    out.push_back(std::move(message));
    ++next.offset;
  }
  messages_.clear();
  return out;
}

std::optional<uint32_t> PollWaiter::retry_ms() const {
  absl::MutexLock lock(&mu_);
  return retry_ms_;
}

}  // namespace pushbroker
