#include "http_edge/admin_server.h"

#include "absl/strings/str_cat.h"
#include "http_edge/json_error.h"
#include "http_edge/listen_socket_options.h"
#include "http_edge/wait_until_running.h"

namespace pushbroker {

AdminServer::AdminServer(AdminServerOptions options, std::function<bool()> is_ready,
                         std::function<std::string()> metrics)
    : options_(std::move(options)), is_ready_(std::move(is_ready)), metrics_(std::move(metrics)) {
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
  server_.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    SetJsonError(res, res.status, res.status == 404 ? "not_found" : "http_error",
                 absl::StrCat("HTTP status ", res.status, "; see /livez, /readyz and /metrics"));
    return httplib::Server::HandlerResponse::Handled;
  }));
}

AdminServer::~AdminServer() { Stop(); }

absl::Status AdminServer::Start() {
  server_.set_socket_options(ListenSocketOptions);
  if (options_.port == 0) {
    port_ = server_.bind_to_any_port(options_.bind_address);
  } else if (server_.bind_to_port(options_.bind_address, options_.port)) {
    port_ = options_.port;
  }
  if (port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for admin HTTP on ",
                                               options_.bind_address, ":", options_.port));
  }
  listener_ = std::thread([this] { server_.listen_after_bind(); });
  // httplib's stop() does nothing until the listener runs; wait for it, so a
  // Stop() right after Start() cannot be lost (and hang the join).
  return WaitUntilRunning(server_, "admin");
}

void AdminServer::Stop() {
  if (!listener_.joinable()) return;
  server_.stop();
  listener_.join();
}

}  // namespace pushbroker
