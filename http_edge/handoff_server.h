// HandoffServer: a cpp-httplib Server whose connections can leave the
// library. It runs the keep-alive request loop itself (over SocketStream);
// when a handler marks its connection for hand-off (an SSE stream whose
// headers are written), the socket goes to the SseLoop instead of being
// closed, and the connection's thread is free again.
//
// This file alone relies on cpp-httplib internals: the private virtual
// process_and_close_socket, the protected process_request and timeout
// members. Debian pins 0.11.4; the static_asserts in the .cc make another
// version fail the build instead of misbehaving.
#ifndef PUSH_BROKER_HTTP_EDGE_HANDOFF_SERVER_H_
#define PUSH_BROKER_HTTP_EDGE_HANDOFF_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "httplib.h"
#include "http_edge/sse_loop.h"
#include "http_edge/sse_stream.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads, like httplib::Server.
// `loop` must outlive the server.
class HandoffServer final : public httplib::Server {
 public:
  // Called for a stream that was prepared but never handed off (the
  // response failed before its body), so the caller can unregister it.
  using AbandonedCallback = std::function<void(const std::shared_ptr<SseStream>&)>;

  HandoffServer(SseLoop* loop, AbandonedCallback on_abandoned);

  // From inside a handler: after the handler returns, the connection's
  // socket goes to the loop for `stream`. The handler must respond with a
  // chunked content provider that returns false at its first call (so
  // httplib writes the headers and nothing more). Returns false when the
  // request did not come through this server's connection loop.
  bool PrepareHandoff(const httplib::Request& req, std::shared_ptr<SseStream> stream)
      ABSL_LOCKS_EXCLUDED(mu_);
  // From the content provider: the headers are out; hand the socket over.
  void CommitHandoff(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);

  // Re-listens the bound socket with a larger backlog than httplib's 5.
  bool SetListenBacklog(int backlog);

 private:
  struct Connection {
    std::shared_ptr<SseStream> stream;
    bool committed = false;
  };

  bool process_and_close_socket(socket_t sock) override;
  Connection* Find(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);

  SseLoop* const loop_;
  const AbandonedCallback on_abandoned_;

  absl::Mutex mu_;
  uint64_t next_serial_ ABSL_GUARDED_BY(mu_) = 1;
  std::unordered_map<std::string, Connection*> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_HANDOFF_SERVER_H_
