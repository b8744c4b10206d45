// HandoffServer: a cpp-httplib Server whose connections can leave the
// library. Its own AcceptLoop takes new connections (surviving transient
// accept() errors); a new or kept-alive connection waits in a RequestGate
// until its request head (and body) is complete; only then does a thread
// (ConnectionTaskQueue) run the request over SocketStream. When a handler
// marks its connection for hand-off (an SSE stream whose headers are
// written), the socket goes to the SseLoop instead, and the thread is free
// again.
//
// This file alone relies on cpp-httplib internals: the protected
// process_request, svr_sock_ and timeout members. Debian pins 0.11.4; the
// static_asserts in the .cc make another version fail the build instead of
// misbehaving.
#ifndef PUSH_BROKER_HTTP_EDGE_SERVER_HANDOFF_SERVER_H_
#define PUSH_BROKER_HTTP_EDGE_SERVER_HANDOFF_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "httplib.h"
#include "http_edge/server/accept_loop.h"
#include "http_edge/server/connection_task_queue.h"
#include "http_edge/server/request_gate.h"
#include "http_edge/sse/sse_loop.h"
#include "http_edge/sse/sse_stream.h"

namespace pushbroker {

struct HandoffServerOptions {
  RequestGateOptions gate;
  size_t max_threads = 512;  // threads running requests at once
  AcceptLoop::AcceptFunction accept;  // null: accept4(); tests inject errors here
};

// Safe for concurrent access from multiple threads, like httplib::Server.
// The streams' loops must outlive the server.
class HandoffServer final : public httplib::Server {
 public:
  // Called for a stream that was prepared but never handed off (the
  // response failed before its body), so the caller can unregister it.
  using AbandonedCallback = std::function<void(const std::shared_ptr<SseStream>&)>;

  // A handed-off socket goes to its stream's own loop.
  HandoffServer(HandoffServerOptions options, AbandonedCallback on_abandoned);

  // Before serving: starts the gate.
  absl::Status StartConnections();
  // On the listener thread, after bind_to_port(): accepts connections until
  // StopServing(), then closes the listening socket. OK after StopServing();
  // the error when the listening socket itself failed.
  absl::Status Serve();
  // Ends Serve() (at once, or as soon as it starts).
  void StopServing() { accept_loop_.Stop(); }
  // After Serve() returned: closes the connections still in the gate and
  // waits for the requests running.
  void StopConnections();
  const AcceptStats& accept_stats() const { return accept_loop_.stats(); }
  const RequestGateStats& gate_stats() const { return gate_.stats(); }
  size_t pending_connections() const { return gate_.pending(); }

  // From inside a handler: after the handler returns, the connection's
  // socket goes to the loop for `stream`. The handler must respond with a
  // chunked content provider that returns false at its first call (so
  // httplib writes the headers and nothing more). Returns false when the
  // request did not come through this server's connection loop.
  bool PrepareHandoff(const httplib::Request& req, std::shared_ptr<SseStream> stream)
      ABSL_LOCKS_EXCLUDED(mu_);
  // From the content provider: the headers are out; hand the socket over.
  void CommitHandoff(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);
  // From inside a handler: the socket its request arrived on, to watch for
  // the peer going away (never to read or write); -1 when unknown.
  int SocketOf(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);

  // Re-listens the bound socket with a larger backlog than httplib's 5.
  bool SetListenBacklog(int backlog);

 private:
  struct Connection {
    int fd = -1;
    std::shared_ptr<SseStream> stream;
    bool committed = false;
  };

  // On a worker: serves requests while complete heads are buffered, then
  // hands the socket off, back to the gate, or closes it.
  void ServeConnection(int sock, uint32_t served) ABSL_LOCKS_EXCLUDED(mu_);
  Connection* Find(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);

  const AbandonedCallback on_abandoned_;
  ConnectionTaskQueue workers_;
  RequestGate gate_;
  AcceptLoop accept_loop_;

  absl::Mutex mu_;
  uint64_t next_serial_ ABSL_GUARDED_BY(mu_) = 1;
  std::unordered_map<std::string, Connection*> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SERVER_HANDOFF_SERVER_H_
