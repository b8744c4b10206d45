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
#include "broker/clock.h"
#include "broker/fanout_batch.h"
#include "http_edge/edge_stats.h"
#include "http_edge/sse/sse_stream.h"
#include "http_edge/sse/stream_end.h"
#include "http_edge/sse/stream_memory.h"
#include "io/epoll_wakeup.h"

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

// Adopt(), Wake() and WakeAll() are safe for concurrent access from multiple
// threads;
// everything else happens on the loop's own thread. The callbacks run on the
// loop thread and must not block: the close callback once per adopted
// stream, the confirmed callback whenever the peer's TCP has acknowledged
// the bytes of events through a higher mailbox offset than before, the
// written callback when a chunk holding messages was written in full.
class SseLoop final : public FanoutBatch::Waker {
 public:
  using ClosedCallback = std::function<void(const std::shared_ptr<SseStream>&, StreamEnd)>;
  using ConfirmedCallback = std::function<void(const std::shared_ptr<SseStream>&, uint64_t offset)>;
  // The bytes of the stream's messages `first`..`through` were written in
  // full (handed to the kernel).
  using WrittenCallback =
      std::function<void(const std::shared_ptr<SseStream>&, uint64_t first, uint64_t through)>;

  // `stats`, `memory` and `clock` must outlive the loop. The clock times
  // heartbeats, stalls, closes and token expiry; epoll_wait() still sleeps
  // in real time, at most a second at once.
  SseLoop(SseLoopOptions options, ClosedCallback on_closed, ConfirmedCallback on_confirmed,
          WrittenCallback on_written, EdgeStats* stats, StreamMemory* memory, const Clock* clock);
  SseLoop(const SseLoop&) = delete;
  SseLoop& operator=(const SseLoop&) = delete;
  ~SseLoop() override;

  absl::Status Start();
  // Ends every stream with the last chunk (best effort) and joins the thread.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Takes ownership of `fd`, whose response headers were written; sends
  // whatever the stream has queued and what comes later.
  void Adopt(std::shared_ptr<SseStream> stream, int fd) ABSL_LOCKS_EXCLUDED(mu_);
  // The stream has something queued.
  void Wake(std::shared_ptr<SseStream> stream) ABSL_LOCKS_EXCLUDED(mu_);
  // These streams (each an SseStream of this loop) have something queued:
  // one lock and at most one signal for all of them.
  void WakeAll(std::vector<std::shared_ptr<StreamSink>>& streams) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Connection {
    std::shared_ptr<SseStream> stream;
    int fd = -1;
    // What is being written: outbox[outbox_front] on. Emptied (its room
    // kept, unless large) once all of it is written.
    std::vector<OutChunk> outbox;
    size_t outbox_front = 0;
    size_t outbox_bytes = 0;      // to write, shared frames included
    size_t outbox_own_bytes = 0;  // counted in StreamMemory until written
    size_t front_written = 0;     // bytes of outbox[outbox_front] already sent
    bool end_after = false;       // close once the outbox is empty
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
  // One turn of the loop after epoll_wait().
  void HandleEvents(const epoll_event* events, int count);
  // Ends every stream with the last chunk, when the loop stops.
  void EndAll();
  void Signal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What other threads asked for since the last turn: sockets to adopt,
  // streams with something queued.
  void TakeAdoptionsAndWakeups();
  void StartConnection(std::shared_ptr<SseStream> stream, int fd);
  // Writes what the stream has queued until the socket would block (the
  // policy: when to refill, when to end); WriteOutbox does the writing.
  void Flush(Connection& connection);
  // Moves the stream's queue into the outbox. False: nothing to write now
  // (the connection may have been closed).
  bool RefillOutbox(Connection& connection);
  enum class WriteResult { kProgress, kWouldBlock, kFailed };
  // One sendmsg() of the outbox's front chunks, then the accounting of what
  // went out.
  WriteResult WriteOutbox(Connection& connection);
  void AccountWritten(Connection& connection, size_t written, absl::Time now);
  // Reads and throws away what the peer sends (a browser sends nothing
  // after its request); notices the peer closing.
  void DiscardInput(Connection& connection);
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
  const WrittenCallback on_written_;
  EdgeStats* const stats_;
  StreamMemory* const memory_;
  const Clock* const clock_;
  EpollWakeup wakeup_;  // made by Start()
  std::thread thread_;

  absl::Mutex mu_;
  std::vector<std::pair<std::shared_ptr<SseStream>, int>> adoptions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<StreamSink>> ready_ ABSL_GUARDED_BY(mu_);
  bool signalled_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Loop thread only.
  std::vector<std::shared_ptr<StreamSink>> taking_;  // ready_, swapped out each turn
  std::unordered_map<int, Connection> connections_;
  std::unordered_map<const SseStream*, int> fd_of_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SSE_SSE_LOOP_H_
