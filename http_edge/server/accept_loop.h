// AcceptLoop: accepts connections on a listening socket for as long as the
// server runs. Unlike cpp-httplib's own loop, which gives up on any
// accept() error but EMFILE (leaving a port that no longer listens behind a
// pod that still says it is ready), it rides out every transient error:
// descriptor or buffer exhaustion backs off and retries, a connection that
// died in the handshake is skipped, and each is counted. Only an error that
// says the listening socket itself is broken ends it.
#ifndef PUSH_BROKER_HTTP_EDGE_SERVER_ACCEPT_LOOP_H_
#define PUSH_BROKER_HTTP_EDGE_SERVER_ACCEPT_LOOP_H_

#include <atomic>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace pushbroker {

// What the loop counts, for metrics.
struct AcceptStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> resource_errors{0};    // EMFILE, ENFILE, ENOBUFS, ENOMEM: backed off
  std::atomic<uint64_t> connection_errors{0};  // ECONNABORTED, EPROTO, ...: skipped
};

// Run() on one thread; Stop() and the accessors from any thread.
class AcceptLoop {
 public:
  // accept4()'s shape: a new descriptor, or -1 with errno set. A seam for
  // tests that inject errors.
  using AcceptFunction = std::function<int(int listen_fd)>;
  using AcceptedCallback = std::function<void(int fd)>;

  // `accept` null: accept4(fd, nullptr, nullptr, SOCK_CLOEXEC).
  explicit AcceptLoop(AcceptFunction accept = nullptr);
  AcceptLoop(const AcceptLoop&) = delete;
  AcceptLoop& operator=(const AcceptLoop&) = delete;
  ~AcceptLoop();

  // Accepts on `listen_fd` (made non-blocking) and hands each connection to
  // `on_accepted`, until Stop(): then OK. An error that the listening socket
  // cannot recover from ends it with that error. `listen_fd` stays open.
  absl::Status Run(int listen_fd, const AcceptedCallback& on_accepted);
  // Ends Run() soon; a Run() that starts later returns at once.
  void Stop();

  bool stopped() const { return stopped_.load(); }
  const AcceptStats& stats() const { return stats_; }

 private:
  // Waits until `listen_fd` is readable, Stop() is called, or `timeout`.
  void WaitFor(int listen_fd, absl::Duration timeout);

  const AcceptFunction accept_;
  AcceptStats stats_;
  std::atomic<bool> stopped_{false};
  int wake_fd_ = -1;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SERVER_ACCEPT_LOOP_H_
