// HttpEdge: the browser-facing HTTP adapter. Serves `GET /v1/events` as a
// Server-Sent Events stream of a client's mailbox, with exact replay after
// Last-Event-ID; established streams are handed from cpp-httplib to an
// SseLoop, so a stream costs no thread.
#ifndef PUSH_BROKER_HTTP_EDGE_HTTP_EDGE_H_
#define PUSH_BROKER_HTTP_EDGE_HTTP_EDGE_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "auth/client_authenticator.h"
#include "broker/broker.h"
#include "broker/clock.h"
#include "broker/rate_limiter.h"
#include "http_edge/cors_policy.h"
#include "http_edge/edge_stats.h"
#include "http_edge/server/accept_loop.h"
#include "http_edge/server/handoff_server.h"
#include "http_edge/sse/sse_loop.h"
#include "http_edge/sse/stream_end.h"
#include "http_edge/sse/stream_memory.h"
#include "http_edge/sse/stream_slot.h"
#include "logging/logger.h"
#include "nlohmann/json.hpp"

namespace pushbroker {

struct HttpEdgeOptions {
  std::string bind_address = "0.0.0.0";
  int port = 8080;           // 0 picks a free port; see HttpEdge::port()
  uint32_t retry_ms = 3000;  // reconnect delay advised to every new stream
  absl::Duration heartbeat_interval = absl::Seconds(15);
  std::vector<std::string> cors_origins;    // empty: no cross-origin pages
  size_t max_connections = 10000;           // concurrent SSE streams
  size_t max_stream_queue_bytes = 1 << 20;  // unsent bytes before a stream is cut
  // Unsent bytes of all streams together; past it, every stream holding more
  // than 64 KiB unsent is cut.
  uint64_t stream_queue_budget_bytes = 256 << 20;
  int stream_socket_buffer_bytes = 256 * 1024;  // SO_SNDBUF per stream; 0: the kernel's
  size_t max_http_threads = 512;                // threads running requests at once
  size_t sse_loops = 2;                         // epoll threads writing established streams
  // Request heads: size limits, and how long one may take to arrive. A
  // connection costs no thread until its head is complete.
  size_t max_request_head_bytes = 32 * 1024;
  size_t max_request_line_bytes = 8192;
  absl::Duration head_timeout = absl::Seconds(10);
  size_t max_pending_connections = 4096;  // connections without a complete head
  // Request bodies: Content-Length only, this large at most, arriving within
  // body_timeout of the head. No thread waits for one.
  size_t max_request_body_bytes = 64 * 1024;
  absl::Duration body_timeout = absl::Seconds(10);
  int listen_backlog = 4096;
  absl::Duration read_timeout = absl::Seconds(10);
  absl::Duration write_timeout = absl::Seconds(10);
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  // A stream whose peer accepts no bytes for this long is closed.
  absl::Duration stream_stall_timeout = absl::Seconds(30);
  // Long-poll: how long /v1/poll waits when the request names no timeout_ms,
  // and the most it may name.
  absl::Duration poll_default_timeout = absl::Seconds(25);
  absl::Duration poll_max_timeout = absl::Seconds(60);
  bool demo_page = true;  // serve the demo page at GET /
  // Files under this directory are served at /static/ (a page on the
  // broker's own origin needs no CORS); empty: none.
  std::string static_dir;
  // What pages send back (POST /v1/ack, /v1/messages): the largest body,
  // and a token bucket per client shared by both.
  size_t max_upstream_bytes = 8 * 1024;
  double upstream_rate_per_client = 20;
  double upstream_burst_per_client = 40;
  size_t upstream_max_clients = 100000;  // rate buckets kept at once
  // With client tokens on, the cookie a browser may carry its token in.
  std::string client_token_cookie = "pb_token";
  // Null: accept4(). A seam for tests that inject accept() errors.
  AcceptLoop::AcceptFunction accept;
};

// Start() and Stop() are for one owning thread; the rest is safe for
// concurrent access from multiple threads. `broker`, `logger` and `clock`
// must outlive the edge. docs/design.md follows one stream through it.
class HttpEdge {
 public:
  // `auth` null or disabled: clients are not authenticated. `clock` is the
  // edge's time (stream and request deadlines, token expiry).
  HttpEdge(HttpEdgeOptions options, Broker* broker, Logger* logger, const ClientAuthenticator* auth,
           const Clock* clock);
  HttpEdge(const HttpEdge&) = delete;
  HttpEdge& operator=(const HttpEdge&) = delete;
  ~HttpEdge();

  absl::Status Start();
  // From now on, new streams and polls get 503 with Retry-After (the broker
  // is going away); open ones are left to the caller to close.
  void BeginDrain() { draining_ = true; }
  // Stops accepting, ends every stream, and waits for request threads.
  void Stop();

  int port() const { return port_; }
  size_t open_streams() const { return slots_.in_use(); }
  const EdgeStats& stats() const { return stats_; }
  const RequestGateStats& gate_stats() const { return server_.gate_stats(); }
  const AcceptStats& accept_stats() const { return server_.accept_stats(); }
  // Bytes all streams hold unsent (queued or in their loop).
  uint64_t stream_queue_bytes() const { return stream_memory_.bytes(); }
  // False once the listener has failed for good (the port no longer
  // accepts): the pod must stop being ready, and the process exit.
  bool listening() const { return server_.listening(); }
  // Connections waiting for a complete request head.
  size_t pending_connections() const { return server_.pending_connections(); }

 private:
  void RegisterRoutes();
  // CORS preflight for `paths` (a route pattern) answering `method`, and
  // 405 naming it for the other methods.
  void AnswerPreflightAndOtherMethods(const std::string& paths, const std::string& method,
                                      const std::string& allowed_headers);
  // Who a client request is for, once admitted.
  struct Admission {
    std::string client_id;
    absl::Time token_expires_at = absl::InfiniteFuture();
  };
  // What every client endpoint checks first: origin, client id, and the
  // client token when tokens are on. nullopt: `res` holds the error.
  std::optional<Admission> AdmitClient(const httplib::Request& req, httplib::Response& res);
  // The token from ?token=, Authorization: Bearer, or the cookie.
  std::string TokenOf(const httplib::Request& req) const;
  void HandleEvents(const httplib::Request& req, httplib::Response& res);
  void HandlePoll(const httplib::Request& req, httplib::Response& res);
  // POST /v1/ack: the page acknowledges message ids.
  void HandleAck(const httplib::Request& req, httplib::Response& res);
  // POST /v1/messages: the page sends a message up to the backends.
  void HandleSendUp(const httplib::Request& req, httplib::Response& res);
  // What both upstream endpoints check after admission: body size, JSON,
  // and the client's rate. nullopt: `res` holds the error.
  std::optional<nlohmann::json> AdmitUpstream(const Admission& admission,
                                              const httplib::Request& req, httplib::Response& res);
  // The answer to a stream the store cannot open now (UNAVAILABLE).
  void AskToComeBack(httplib::Response& res, const absl::Status& why);
  // Takes one of --max_connections, or answers 503.
  std::optional<StreamSlot> TryReserveStream(httplib::Response& res);
  // Every end of an SSE stream comes here once: unregister, count, log, and
  // give its slot back.
  void OnStreamEnded(const std::shared_ptr<SseStream>& stream, StreamEnd why);
  void StopLoops();

  const HttpEdgeOptions options_;
  Broker* const broker_;
  Logger* const logger_;
  const ClientAuthenticator* const auth_;
  const Clock* const clock_;
  const CorsPolicy cors_;
  RateLimiter upstream_rate_;
  EdgeStats stats_;
  StreamMemory stream_memory_;
  StreamSlots slots_;  // SSE streams and waiting polls, against --max_connections
  std::atomic<bool> stopping_{false};
  std::atomic<bool> draining_{false};
  std::vector<std::unique_ptr<SseLoop>> loops_;  // streams spread round-robin
  std::atomic<size_t> next_loop_{0};
  HandoffServer server_;
  int port_ = -1;
  bool started_ = false;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_HTTP_EDGE_H_
