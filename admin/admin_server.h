// AdminServer: the operator's HTTP listener (--admin_port), apart from the
// traffic edge: /livez, /readyz and /metrics. It has the edge's defences
// (the request gate and a surviving accept loop), so slow or hostile
// connections cannot keep the kubelet's probes from an answer.
#ifndef PUSH_BROKER_ADMIN_ADMIN_SERVER_H_
#define PUSH_BROKER_ADMIN_ADMIN_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "broker/clock.h"
#include "http_edge/server/handoff_server.h"
#include "logging/logger.h"

namespace pushbroker {

struct AdminServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 9090;  // 0 picks a free port
  // Slow heads and bodies wait here, costing no thread.
  RequestGateOptions gate;
  size_t max_threads = 16;            // probes and scrapes are quick
  AcceptLoop::AcceptFunction accept;  // null: accept4(); tests inject errors here
};

// Start() and Stop() are for one owning thread. `is_ready` and `metrics` are
// called from request threads and must be thread-safe.
class AdminServer {
 public:
  // `metrics` renders the Prometheus text exposition. `logger` and `clock`
  // must outlive the server.
  AdminServer(AdminServerOptions options, std::function<bool()> is_ready,
              std::function<std::string()> metrics, Logger* logger, const Clock* clock);
  ~AdminServer();

  absl::Status Start();
  void Stop();
  int port() const { return port_; }
  // False once the listener has failed for good.
  bool listening() const { return server_.listening(); }
  const AcceptStats& accept_stats() const { return server_.accept_stats(); }

 private:
  const AdminServerOptions options_;
  const std::function<bool()> is_ready_;
  const std::function<std::string()> metrics_;
  Logger* const logger_;
  HandoffServer server_;
  bool started_ = false;
  int port_ = -1;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_ADMIN_ADMIN_SERVER_H_
