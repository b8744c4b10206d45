#include "http_edge/poll_waiter.h"

#include <algorithm>

namespace pushbroker {
namespace {
// How often a waiting poll looks at the edge's stopping flag.
constexpr absl::Duration kStopCheck = absl::Milliseconds(100);
}  // namespace

void PollWaiter::Deliver(const Message& message) {
  absl::MutexLock lock(&mu_);
  messages_.push_back(message);
}

void PollWaiter::Close(CloseCause cause, uint32_t retry_ms) {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  if (cause == CloseCause::kDisconnected || cause == CloseCause::kShutdown) retry_ms_ = retry_ms;
}

void PollWaiter::Wait(absl::Duration timeout, const std::atomic<bool>& stopping) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !messages_.empty() || closed_; };
  while (!done() && !stopping.load()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    mu_.AwaitWithTimeout(absl::Condition(&done), std::min(left, kStopCheck));
  }
}

std::vector<Message> PollWaiter::TakeAfter(uint64_t after_offset) {
  absl::MutexLock lock(&mu_);
  std::vector<Message> out;
  for (Message& message : messages_) {
    if (message.id.offset > after_offset) out.push_back(std::move(message));
  }
  messages_.clear();
  return out;
}

std::optional<uint32_t> PollWaiter::retry_ms() const {
  absl::MutexLock lock(&mu_);
  return retry_ms_;
}

}  // namespace pushbroker
