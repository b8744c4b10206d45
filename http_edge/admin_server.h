// AdminServer: the operator's HTTP listener (--admin_port), apart from the
// traffic edge: /livez, /readyz and /metrics.
#ifndef PUSH_BROKER_HTTP_EDGE_ADMIN_SERVER_H_
#define PUSH_BROKER_HTTP_EDGE_ADMIN_SERVER_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "httplib.h"

namespace pushbroker {

struct AdminServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 9090;  // 0 picks a free port
};

// Start() and Stop() are for one owning thread. `is_ready` and `metrics` are
// called from request threads and must be thread-safe.
class AdminServer {
 public:
  // `metrics` renders the Prometheus text exposition.
  AdminServer(AdminServerOptions options, std::function<bool()> is_ready,
              std::function<std::string()> metrics);
  ~AdminServer();

  absl::Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  const AdminServerOptions options_;
  const std::function<bool()> is_ready_;
  const std::function<std::string()> metrics_;
  httplib::Server server_;
  std::thread listener_;
  int port_ = -1;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_ADMIN_SERVER_H_
