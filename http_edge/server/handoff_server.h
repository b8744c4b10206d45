// HandoffServer: a cpp-httplib Server whose connections can leave the
// library. Its own AcceptLoop takes new connections (surviving transient
// accept() errors); a new or kept-alive connection waits in a RequestGate
// until its request head (and body) is complete; only then does a thread
// (ConnectionTaskQueue) run the request over SocketStream. When a handler
// marks its connection for hand-off (an SSE stream whose headers are
// written), the socket goes to whoever the handler named (the stream's
// SseLoop), and the thread is free again. docs/design.md tells the whole
// path and why it takes two steps (PrepareHandoff, CommitHandoff).
//
// This file alone relies on cpp-httplib internals: the protected
// process_request, svr_sock_ and timeout members. Debian pins 0.11.4; the
// static_asserts in the .cc make another version fail the build instead of
// misbehaving.
#ifndef PUSH_BROKER_HTTP_EDGE_SERVER_HANDOFF_SERVER_H_
#define PUSH_BROKER_HTTP_EDGE_SERVER_HANDOFF_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "broker/clock.h"
#include "http_edge/server/accept_loop.h"
#include "http_edge/server/connection_task_queue.h"
#include "http_edge/server/request_gate.h"
#include "httplib.h"

namespace pushbroker {

struct HandoffServerOptions {
  RequestGateOptions gate;
  size_t max_threads = 512;           // threads running requests at once
  AcceptLoop::AcceptFunction accept;  // null: accept4(); tests inject errors here
};

// Where a handler's connection goes once its response headers are out.
struct Handoff {
  std::function<void(int fd)> adopt;  // takes ownership of the socket
  // The response failed before its body: nothing was handed off, and the
  // socket stays with the server (which closes it).
  std::function<void()> abandon;
};

// Safe for concurrent access from multiple threads, like httplib::Server.
class HandoffServer final : public httplib::Server {
 public:
  // `clock` (the gate's deadlines) must outlive the server.
  HandoffServer(HandoffServerOptions options, const Clock* clock);

  // Before serving: starts the gate.
  absl::Status StartConnections();
  // On the listener thread, after bind_to_port(): accepts connections until
  // StopServing(), then closes the listening socket. OK after StopServing();
  // the error when the listening socket itself failed.
  absl::Status Serve();
  // Ends Serve() (at once, or as soon as it starts).
  void StopServing() { accept_loop_.Stop(); }
  // Serve() on a listener thread of the server's own. If the listening
  // socket fails for good, `on_failure` runs there and listening() turns
  // false. StopServing() then JoinServing() end it.
  void ServeInBackground(std::function<void(const absl::Status&)> on_failure);
  void JoinServing();
  // False once the listening socket has failed for good.
  bool listening() const { return !listener_failed_.load(); }
  // After Serve() returned: closes the connections still in the gate and
  // waits for the requests running.
  void StopConnections();
  const AcceptStats& accept_stats() const { return accept_loop_.stats(); }
  const RequestGateStats& gate_stats() const { return gate_.stats(); }
  size_t pending_connections() const { return gate_.pending(); }

  // From inside a handler: after the handler returns, the connection's
  // socket goes to `handoff.adopt`. The handler must respond with a chunked
  // content provider that calls CommitHandoff() and returns false at its
  // first call (so httplib writes the headers and nothing more). Returns
  // false when the request did not come through this server's connection
  // loop.
  bool PrepareHandoff(const httplib::Request& req, Handoff handoff) ABSL_LOCKS_EXCLUDED(mu_);
  // From the content provider: the headers are out; hand the socket over.
  void CommitHandoff(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);
  // From inside a handler: the socket its request arrived on, to watch for
  // the peer going away (never to read or write); -1 when unknown.
  int SocketOf(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);

  // Binds `address:port` (port 0: a free one) with ListenSocketOptions and
  // listens with `backlog` (0: httplib's 5). Returns the port bound.
  absl::StatusOr<int> Bind(const std::string& address, int port, int backlog);

 private:
  struct Connection {
    int fd = -1;
    std::optional<Handoff> handoff;  // prepared by a handler
    bool committed = false;          // its headers are out
  };

  // On a worker: serves requests while complete heads are buffered, then
  // hands the socket off, back to the gate, or closes it.
  void ServeConnection(int sock, uint32_t served) ABSL_LOCKS_EXCLUDED(mu_);
  Connection* Find(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);

  ConnectionTaskQueue workers_;
  RequestGate gate_;
  AcceptLoop accept_loop_;

  std::thread listener_;
  std::atomic<bool> listener_failed_{false};

  absl::Mutex mu_;
  uint64_t next_serial_ ABSL_GUARDED_BY(mu_) = 1;
  std::unordered_map<std::string, Connection*> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SERVER_HANDOFF_SERVER_H_
