// StreamEnd: why an SSE stream ended, the one vocabulary for it in the
// stream_closed log line and the pushbroker_sse_stream_ends_total metric.
// (The core's CloseCause is a different thing: why the broker asks a stream
// to end; such an end is counted here as kServerClosed.)
#ifndef PUSH_BROKER_HTTP_EDGE_SSE_STREAM_END_H_
#define PUSH_BROKER_HTTP_EDGE_SSE_STREAM_END_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace pushbroker {

enum class StreamEnd {
  kPeerClosed,     // the browser went away
  kWriteFailed,    // the socket refused a write
  kServerClosed,   // the broker ended it (client deleted, draining, token expired)
  kSlowConsumer,   // its queue or the streams' memory budget overflowed, or it stalled
  kLoopStopped,    // the process is shutting down
  kAbandoned,      // its response failed before the hand-off
  kInternalError,  // the connection could not be handed off
};
inline constexpr size_t kStreamEndCount = 7;

// The name in logs and metric labels.
constexpr absl::string_view StreamEndName(StreamEnd end) {
  switch (end) {
    case StreamEnd::kPeerClosed:
      return "peer_closed";
    case StreamEnd::kWriteFailed:
      return "write_failed";
    case StreamEnd::kServerClosed:
      return "server_closed";
    case StreamEnd::kSlowConsumer:
      return "slow_consumer";
    case StreamEnd::kLoopStopped:
      return "shutdown";
    case StreamEnd::kAbandoned:
      return "abandoned";
    case StreamEnd::kInternalError:
      return "internal_error";
  }
  return "unknown";
}

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SSE_STREAM_END_H_
