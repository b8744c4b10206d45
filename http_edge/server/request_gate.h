// RequestGate: holds the HTTP connections that have not yet sent a complete
// request, in one epoll thread, so a client that sends slowly (slowloris, a
// dripping body), sends nothing, or connects and leaves costs a descriptor
// and no thread. A connection passes on once its head, through the blank
// line, and its Content-Length body wait in the kernel's buffer; the gate
// itself answers 408, 411, 413, 414 and 431.
#ifndef PUSH_BROKER_HTTP_EDGE_SERVER_REQUEST_GATE_H_
#define PUSH_BROKER_HTTP_EDGE_SERVER_REQUEST_GATE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/clock.h"
#include "io/epoll_wakeup.h"

namespace pushbroker {

struct RequestGateOptions {
  // The request line plus every header, through the blank line.
  size_t max_head_bytes = 32 * 1024;
  // The request line alone (method, target, version). cpp-httplib refuses
  // more than 8192 on its own.
  size_t max_request_line_bytes = 8192;
  // How long a new connection may take to send its first complete head, and
  // a kept-alive one its next head once it has begun.
  absl::Duration head_timeout = absl::Seconds(10);
  // How long a kept-alive connection may wait, silent, for its next request.
  absl::Duration idle_timeout = absl::Seconds(5);
  // Connections held at once; past it, the longest-held one is closed.
  size_t max_pending = 4096;
  // A request body (Content-Length only) and how long it may take to arrive
  // once the head is complete. It must fit the socket's receive buffer.
  size_t max_body_bytes = 64 * 1024;
  absl::Duration body_timeout = absl::Seconds(10);
};

// What the gate counts, for metrics.
struct RequestGateStats {
  std::atomic<uint64_t> passed{0};
  std::atomic<uint64_t> head_timeouts{0};   // 408
  std::atomic<uint64_t> head_too_large{0};  // 414 and 431
  std::atomic<uint64_t> body_refused{0};    // 411 and 413
  std::atomic<uint64_t> body_timeouts{0};   // 408 for a body
  std::atomic<uint64_t> evicted{0};         // closed for max_pending
};

// Admit() is safe for concurrent access from multiple threads; the ready
// callback runs on the gate's thread and must not block.
class RequestGate {
 public:
  // Receives a connection whose next request head is complete. `served`
  // is the count given to Admit().
  using ReadyCallback = std::function<void(int fd, uint32_t served)>;

  // `clock` (deadlines) must outlive the gate.
  RequestGate(RequestGateOptions options, ReadyCallback on_ready, const Clock* clock);
  RequestGate(const RequestGate&) = delete;
  RequestGate& operator=(const RequestGate&) = delete;
  ~RequestGate();

  absl::Status Start();
  // Closes every held connection and joins the thread. Later admissions
  // are closed at once.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Takes ownership of `fd`. `served` counts the requests already answered
  // on it: 0 for a new connection, more for one kept alive.
  void Admit(int fd, uint32_t served) ABSL_LOCKS_EXCLUDED(mu_);

  size_t pending() const ABSL_LOCKS_EXCLUDED(mu_);
  const RequestGateStats& stats() const { return stats_; }

 private:
  struct Pending {
    uint32_t served = 0;
    uint64_t sequence = 0;       // admission order, for eviction
    bool bytes_seen = false;     // some bytes of a head have arrived
    bool head_complete = false;  // the head is in; its body is not yet
    absl::Time deadline;
  };
  enum class Verdict {
    kWaiting,
    kReady,
    kClosed,
    kTimedOut,
    kLineTooLong,
    kHeadTooLarge,
    kBodyTimedOut,
    kBodyTooLarge,
    kLengthRequired,
    kBadLength,
  };
  // With the head complete (`head` through its blank line): whether its
  // body is buffered too.
  Verdict InspectBody(absl::string_view head, size_t buffered, Pending& pending, bool peer_done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Run();
  // Looks at what `fd` has buffered without consuming it. `peer_done`: the
  // peer has sent all it ever will.
  Verdict Inspect(int fd, Pending& pending, bool peer_done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Expire(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);
  void EvictOldestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes `fd` from the gate; answers `verdict` when it is an error.
  void Release(int fd, Verdict verdict) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RequestGateOptions options_;
  const ReadyCallback on_ready_;
  RequestGateStats stats_;
  const Clock* const clock_;
  EpollWakeup wakeup_;  // made by Start()
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::unordered_map<int, Pending> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::string peek_buffer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SERVER_REQUEST_GATE_H_
