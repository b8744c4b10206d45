// EdgeStats: what the HTTP edge counts, for metrics. Safe for concurrent
// access from multiple threads.
#ifndef PUSH_BROKER_HTTP_EDGE_EDGE_STATS_H_
#define PUSH_BROKER_HTTP_EDGE_EDGE_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "http_edge/sse/stream_end.h"
#include "metrics/histogram.h"

namespace pushbroker {

struct EdgeStats {
  // From a message's publish to the loop writing its last byte to a socket.
  Histogram publish_to_write{Histogram::LatencyBounds()};
  // SSE streams ended, indexed by StreamEnd.
  std::array<std::atomic<uint64_t>, kStreamEndCount> stream_ends{};
  std::atomic<uint64_t> polls{0};
  // Streams asked to come back later because the store was unreachable.
  std::atomic<uint64_t> streams_deferred{0};
  std::atomic<uint64_t> polls_abandoned{0};  // the peer left while the poll waited
  std::atomic<uint64_t> refused_over_limit{0};
  std::atomic<uint64_t> acks{0};              // message ids acknowledged by pages
  std::atomic<uint64_t> client_messages{0};   // messages pages sent up
  std::atomic<uint64_t> upstream_refused{0};  // over --upstream_rate_per_client
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_EDGE_STATS_H_
