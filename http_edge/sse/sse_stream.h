// SseStream: one browser's live SSE stream as the core sees it (a
// StreamSink): a bounded queue of encoded HTTP chunks that publishers fill
// and the SseLoop drains to the socket.
#ifndef PUSH_BROKER_HTTP_EDGE_SSE_SSE_STREAM_H_
#define PUSH_BROKER_HTTP_EDGE_SSE_SSE_STREAM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/fanout_batch.h"
#include "broker/stream_sink.h"
#include "http_edge/sse/out_chunk.h"
#include "http_edge/sse/stream_memory.h"
#include "http_edge/sse/stream_slot.h"

namespace pushbroker {

class SseLoop;

// Safe for concurrent access from multiple threads. Until Prime() the
// stream holds live messages aside, so the replay goes out first; after it,
// live messages at or below the last replayed offset are dropped as
// duplicates; a live message that does not follow the last one queued ends
// the stream, which resumes exactly on reconnect. Past `max_queued_bytes` of unsent live data the
// stream gives up (slow consumer) and the loop closes it, and sooner when all streams together hold
// more than their budget (StreamMemory); the client reconnects with Last-Event-ID and loses
// nothing, since the mailbox still has the messages.
class SseStream final : public StreamSink, public std::enable_shared_from_this<SseStream> {
 public:
  // `loop` must outlive the stream's registration with it; `memory` must
  // outlive the stream. `slot` is its place among --max_connections, held
  // until TakeSlot() or the stream's end.
  SseStream(std::string client_id, SseLoop* loop, size_t max_queued_bytes, StreamMemory* memory,
            absl::Time opened_at, StreamSlot slot);
  ~SseStream() override;
  // The loop that writes this stream.
  SseLoop* loop() const { return loop_; }

  const std::string& client_id() const { return client_id_; }
  absl::Time opened_at() const { return opened_at_; }
  // Gives the stream's place back to whoever ends it (once).
  StreamSlot TakeSlot() ABSL_LOCKS_EXCLUDED(mu_);

  // Queues the opening chunks (retry advice, reset notice, replay) and goes
  // live. `replayed_through` is the last offset the replay covered (0: none);
  // `epoch` is the mailbox epoch the stream's ids belong to.
  // `replayed_from` is the first offset the opening holds (0: none).
  void Prime(std::string opening_chunks, uint64_t replayed_from, uint64_t replayed_through,
             uint64_t epoch) ABSL_LOCKS_EXCLUDED(mu_);
  // The mailbox epoch given to Prime (0 before).
  uint64_t epoch() const ABSL_LOCKS_EXCLUDED(mu_);

  // Queues the message's chunk: its own head and the frame it shares with
  // the batch's other streams; the loop's wake-up goes to `batch`.
  void Deliver(const Message& message, FanoutBatch& batch) override ABSL_LOCKS_EXCLUDED(mu_);
  void Close(CloseCause cause, uint32_t retry_ms) override ABSL_LOCKS_EXCLUDED(mu_);
  const char* transport() const override { return "sse"; }

  // When the client's token expires (InfiniteFuture when there is none). The
  // loop then calls EndForExpiredToken().
  void set_token_expires_at(absl::Time at) { token_expires_at_ = at; }
  absl::Time token_expires_at() const { return token_expires_at_; }
  // Sends `event: token-expired` and ends the stream, so the page fetches a
  // fresh token and reconnects after its last id.
  void EndForExpiredToken() ABSL_LOCKS_EXCLUDED(mu_);

  // For the loop: what is queued, and whether to end the stream afterwards.
  struct Batch {
    std::vector<OutChunk> chunks;
    bool end_after = false;  // send these, then the last chunk was included; close
    bool abort = false;      // close now without sending anything more
  };
  // Fills `batch`, whose chunks must be empty: they are swapped with the
  // queue, so the two vectors' room is reused and nothing is allocated.
  void TakeQueued(Batch& batch) ABSL_LOCKS_EXCLUDED(mu_);

  bool overflowed() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void EnqueueLocked(OutChunk chunk) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `last` (and the last chunk) and marks the stream ending, unless it
  // already is. Returns whether the loop needs waking.
  bool EndLocked(std::string last) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues a live message after what is queued. A message of another epoch,
  // or one past a gap in the offsets (a notification lost between
  // processes), ends the stream instead: the client reconnects with its last
  // id and the replay fills the gap exactly. Returns whether the loop needs
  // waking for that end.
  // `batch` (may be null) shares the payload's frame among its streams.
  bool QueueMessageLocked(const Message& message, FanoutBatch* batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ScheduleWakeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A message's frame (all but its id line), counted once in the streams'
  // memory for as long as any stream holds it.
  FanoutBatch::Encoding NewFrame(const Payload& payload) const;

  const std::string client_id_;
  const absl::Time opened_at_;
  absl::Time token_expires_at_ = absl::InfiniteFuture();  // set before the stream is shared
  SseLoop* const loop_;
  const size_t max_queued_bytes_;
  StreamMemory* const memory_;

  mutable absl::Mutex mu_;
  bool priming_ ABSL_GUARDED_BY(mu_) = true;
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Message> held_while_priming_ ABSL_GUARDED_BY(mu_);
  uint64_t queued_through_ ABSL_GUARDED_BY(mu_) = 0;  // highest offset queued
  std::vector<OutChunk> queued_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;      // all of it, for the limits
  size_t queued_own_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // what only this stream holds
  // Bytes of the opening (replay) still queued: bounded by the mailbox, so
  // they do not count against max_queued_bytes_.
  size_t opening_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool wake_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;      // the last chunk is queued
  bool overflowed_ ABSL_GUARDED_BY(mu_) = false;  // slow consumer: abort
  StreamSlot slot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SSE_SSE_STREAM_H_
