// AdminServer: the operator's HTTP listener (--admin_port), apart from the
// traffic edge: /livez and /readyz now, /metrics later.
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

// Start() and Stop() are for one owning thread. `is_ready` is called from
// request threads and must be thread-safe.
class AdminServer {
 public:
  AdminServer(AdminServerOptions options, std::function<bool()> is_ready);
  ~AdminServer();

  absl::Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  const AdminServerOptions options_;
  const std::function<bool()> is_ready_;
  httplib::Server server_;
  std::thread listener_;
  int port_ = -1;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_ADMIN_SERVER_H_
