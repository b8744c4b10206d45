// PollWaiter: one long-poll request as the core sees it (a StreamSink): it
// collects what arrives while the request waits, and wakes the waiting
// request thread.
#ifndef PUSH_BROKER_HTTP_EDGE_POLL_WAITER_H_
#define PUSH_BROKER_HTTP_EDGE_POLL_WAITER_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/stream_sink.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads: publishers deliver, one
// request thread waits and takes.
class PollWaiter final : public StreamSink {
 public:
  // Wakes its request thread itself (a poll is one thread, not a loop).
  void Deliver(const Message& message, FanoutBatch& batch) override ABSL_LOCKS_EXCLUDED(mu_);
  void Close(CloseCause cause, uint32_t retry_ms) override ABSL_LOCKS_EXCLUDED(mu_);
  const char* transport() const override { return "poll"; }

  // Waits until something was delivered, the broker closed the waiter, or
  // `timeout` passed; gives up early once `stopping` is set, or when the
  // peer of `peer_fd` (the poll's connection; -1: none) goes away. Returns
  // false when the peer went away: nobody is left to answer.
  bool Wait(absl::Duration timeout, const std::atomic<bool>& stopping, int peer_fd = -1)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The delivered messages from `first` on, in order, as far as they follow
  // one another (a gap left by a lost notification ends the run there; the
  // next poll reads the rest from the mailbox).
  std::vector<Message> TakeFrom(MessageId first) ABSL_LOCKS_EXCLUDED(mu_);
  // The retry advice of a Disconnect, if one came.
  std::optional<uint32_t> retry_ms() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::vector<Message> messages_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<uint32_t> retry_ms_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_POLL_WAITER_H_
