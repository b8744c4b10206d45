#include "admin/admin_server.h"

#include "absl/strings/str_cat.h"
#include "http_edge/json_error.h"

namespace pushbroker {

AdminServer::AdminServer(AdminServerOptions options, std::function<bool()> is_ready,
                         std::function<std::string()> metrics, Logger* logger, const Clock* clock)
    : options_(std::move(options)),
      is_ready_(std::move(is_ready)),
      metrics_(std::move(metrics)),
      logger_(logger),
      server_(HandoffServerOptions{options_.gate, options_.max_threads, options_.accept}, clock) {
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_.Get("/livez", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  server_.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    if (is_ready_()) {
      res.set_content("{\"status\":\"ready\"}", "application/json");
    } else {
      res.set_header("Retry-After", "1");
      SetJsonError(res, 503, "not_ready", "the broker is starting or draining");
    }
  });
  server_.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&,
                                                                    httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    SetJsonError(res, res.status, res.status == 404 ? "not_found" : "http_error",
                 absl::StrCat("HTTP status ", res.status, "; see /livez, /readyz and /metrics"));
    return httplib::Server::HandlerResponse::Handled;
  }));
}

AdminServer::~AdminServer() { Stop(); }

absl::Status AdminServer::Start() {
  if (absl::Status started = server_.StartConnections(); !started.ok()) return started;
  absl::StatusOr<int> port = server_.Bind(options_.bind_address, options_.port, /*backlog=*/0);
  if (!port.ok()) {
    server_.StopConnections();
    return absl::UnavailableError(absl::StrCat("admin HTTP: ", port.status().message()));
  }
  port_ = *port;
  server_.set_payload_max_length(options_.gate.max_body_bytes);
  server_.ServeInBackground([this](const absl::Status& failure) {
    logger_->Error("listener_failed",
                   {{"listener", "admin"}, {"message", std::string(failure.message())}});
  });
  started_ = true;
  return absl::OkStatus();
}

void AdminServer::Stop() {
  if (!started_) return;
  started_ = false;
  server_.StopServing();
  server_.JoinServing();
  server_.StopConnections();
}

}  // namespace pushbroker
