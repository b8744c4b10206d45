// StreamSink: the core's view of one live stream (an SSE connection, a
// long-poll waiter): something that takes messages and can be told to close.
#ifndef PUSH_BROKER_BROKER_STREAM_SINK_H_
#define PUSH_BROKER_BROKER_STREAM_SINK_H_

#include <cstdint>

#include "broker/fanout_batch.h"
#include "broker/message.h"

namespace pushbroker {

// Why the broker asks a stream to close.
enum class CloseCause {
  kDisconnected,   // Disconnect RPC: come back after retry_ms
  kClientDeleted,  // DeleteClient RPC
  kShutdown,       // the broker is stopping
};

// Implementations must be safe for concurrent access from multiple threads:
// Deliver is called by publishing threads, sometimes while the store holds a
// lock, so it must not block, must not call back into the broker, and must
// return quickly (queue and wake, never write to a socket inline).
class StreamSink {
 public:
  virtual ~StreamSink() = default;

  // A message appended to this stream's mailbox after the stream registered.
  // May arrive before the stream has sent its replay; the stream orders and
  // de-duplicates by offset. A stream written by a loop defers its wake-up
  // to `batch`, and shares the payload's encoding through it.
  virtual void Deliver(const Message& message, FanoutBatch& batch) = 0;

  // "sse" or "poll": how the client reads, as Watch events name it.
  virtual const char* transport() const = 0;

  // Asks the stream to send a `retry:` advice of `retry_ms` and close.
  virtual void Close(CloseCause cause, uint32_t retry_ms) = 0;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_STREAM_SINK_H_
