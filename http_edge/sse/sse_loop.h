// SseLoop: one epoll thread that owns every established SSE connection after
// cpp-httplib has written its response headers. It writes queued chunks
// without blocking, sends heartbeats, notices dead peers, and closes streams.
#ifndef PUSH_BROKER_HTTP_EDGE_SSE_SSE_LOOP_H_
#define PUSH_BROKER_HTTP_EDGE_SSE_SSE_LOOP_H_

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "http_edge/edge_stats.h"
#include "http_edge/sse/sse_stream.h"
#include "http_edge/sse/stream_memory.h"

namespace pushbroker {

struct SseLoopOptions {
  absl::Duration heartbeat_interval = absl::Seconds(15);
  // How long a stream that is ending may take to flush its last chunks.
  absl::Duration close_timeout = absl::Seconds(5);
  // How long queued data may wait on a peer that accepts none of it before
  // the stream is closed (a vanished peer whose TCP never says so).
  absl::Duration stall_timeout = absl::Seconds(30);
  // SO_SNDBUF of each adopted socket: bounds the kernel's memory per stream
  // (it autotunes up to megabytes for a peer that stopped reading). 0: the
  // kernel's default.
  int socket_send_buffer = 256 * 1024;
};

// Adopt() and Wake() are safe for concurrent access from multiple threads;
// everything else happens on the loop's own thread. The callbacks run on the
// loop thread and must not block: the close callback once per adopted
// stream, the confirmed callback whenever the peer's TCP has acknowledged
// the bytes of events through a higher mailbox offset than before.
class SseLoop {
 public:
  using ClosedCallback = std::function<void(const std::shared_ptr<SseStream>&, StreamEnd)>;
  using ConfirmedCallback = std::function<void(const std::shared_ptr<SseStream>&, uint64_t offset)>;

  // `stats` and `memory` must outlive the loop.
  SseLoop(SseLoopOptions options, ClosedCallback on_closed, ConfirmedCallback on_confirmed,
          EdgeStats* stats, StreamMemory* memory);
  SseLoop(const SseLoop&) = delete;
  SseLoop& operator=(const SseLoop&) = delete;
  ~SseLoop();

  absl::Status Start();
  // Ends every stream with the last chunk (best effort) and joins the thread.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Takes ownership of `fd`, whose response headers were written; sends
  // whatever the stream has queued and what comes later.
  void Adopt(std::shared_ptr<SseStream> stream, int fd) ABSL_LOCKS_EXCLUDED(mu_);
  // The stream has something queued.
  void Wake(std::shared_ptr<SseStream> stream) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Connection {
    std::shared_ptr<SseStream> stream;
    int fd = -1;
    std::deque<OutChunk> outbox;
    size_t outbox_bytes = 0;   // counted in StreamMemory until written
    size_t front_written = 0;  // bytes of outbox.front() already sent
    bool end_after = false;    // close once the outbox is empty
    absl::Time ending_since = absl::InfiniteFuture();
    absl::Time last_progress;  // the last time the peer accepted bytes
    // Delivery confirmation: bytes this loop wrote, what the socket had sent
    // before adoption (the headers), and the events not yet acknowledged,
    // as (end of their bytes in written, mailbox offset).
    uint64_t written = 0;
    uint64_t sent_before_adoption = 0;
    bool acks_known = true;  // false: not TCP; a write counts as received
    std::deque<std::pair<uint64_t, uint64_t>> unconfirmed;
  };

  void Run();
  void Signal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakeRequests();
  void Flush(Connection& connection);
  void Drain(Connection& connection);
  void CloseConnection(int fd, StreamEnd why);
  // Reports the events whose bytes the peer has acknowledged.
  void ConfirmAcknowledged(Connection& connection);
  void Heartbeat(absl::Time now);
  // Ends the streams whose client token has expired.
  void ExpireTokens(absl::Time now);
  // Once a second: the events each peer has acknowledged since.
  void ConfirmAll();
  // Past the streams' memory budget: cuts the streams whose peers hold more
  // than the floor unwritten.
  void CutOverBudget();

  const SseLoopOptions options_;
  const ClosedCallback on_closed_;
  const ConfirmedCallback on_confirmed_;
  EdgeStats* const stats_;
  StreamMemory* const memory_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;

  absl::Mutex mu_;
  std::vector<std::pair<std::shared_ptr<SseStream>, int>> adoptions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<SseStream>> ready_ ABSL_GUARDED_BY(mu_);
  bool signalled_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Loop thread only.
  std::unordered_map<int, Connection> connections_;
  std::unordered_map<const SseStream*, int> fd_of_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SSE_SSE_LOOP_H_
