#include "http_edge/server/handoff_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "http_edge/server/listen_socket_options.h"
#include "http_edge/server/socket_stream.h"

namespace pushbroker {
namespace {

// The header that tells a handler which connection it runs on. httplib
// gives a handler the Request and nothing of the connection, so the server
// numbers each connection and writes its serial into the parsed request,
// after erasing any value a client sent; PrepareHandoff/CommitHandoff/
// SocketOf find the connection by it.
constexpr char kConnectionHeader[] = "X-Push-Broker-Connection";

constexpr bool StartsWith(const char* text, const char* prefix) {
  return *prefix == '\0' || (*text == *prefix && StartsWith(text + 1, prefix + 1));
}
static_assert(StartsWith(CPPHTTPLIB_VERSION, "0.11."),
              "HandoffServer relies on cpp-httplib 0.11.x internals; review it for this version");

absl::Duration Seconds(time_t sec, time_t usec) {
  return absl::Seconds(sec) + absl::Microseconds(usec);
}

}  // namespace

HandoffServer::HandoffServer(HandoffServerOptions options, const Clock* clock)
    : workers_(ConnectionTaskQueueOptions{options.max_threads}),
      gate_(
          options.gate,
          [this](int sock, uint32_t served) {
            workers_.enqueue([this, sock, served] { ServeConnection(sock, served); });
          },
          clock),
      accept_loop_(std::move(options.accept)) {
  // The listening socket is this protected member, bound by bind_to_port().
  static_assert(std::is_same<decltype(svr_sock_), std::atomic<socket_t>>::value,
                "httplib::Server::svr_sock_ changed");
  // The hand-off calls this protected member with exactly this signature.
  static_assert(
      std::is_same<decltype(&HandoffServer::process_request),
                   bool (httplib::Server::*)(httplib::Stream&, bool, bool&,
                                             const std::function<void(httplib::Request&)>&)>::value,
      "httplib::Server::process_request changed");
}

absl::StatusOr<int> HandoffServer::Bind(const std::string& address, int port, int backlog) {
  set_socket_options(ListenSocketOptions);
  int bound = -1;
  if (port == 0) {
    bound = bind_to_any_port(address);
  } else if (bind_to_port(address, port)) {
    bound = port;
  }
  if (bound <= 0)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ":", port));
  // httplib listens with a backlog of 5; a connect storm needs more.
  const socket_t sock = svr_sock_;
  if (backlog > 0 && ::listen(sock, backlog) != 0) {
    return absl::InternalError(absl::StrCat("listen(", backlog, "): ", strerror(errno)));
  }
  return bound;
}

HandoffServer::Connection* HandoffServer::Find(const httplib::Request& req) {
  const std::string serial = req.get_header_value(kConnectionHeader);
  absl::MutexLock lock(&mu_);
  auto it = connections_.find(serial);
  return it == connections_.end() ? nullptr : it->second;
}

bool HandoffServer::PrepareHandoff(const httplib::Request& req, Handoff handoff) {
  Connection* connection = Find(req);
  if (connection == nullptr) return false;
  connection->handoff = std::move(handoff);  // only this connection's thread touches it
  return true;
}

void HandoffServer::CommitHandoff(const httplib::Request& req) {
  Connection* connection = Find(req);
  if (connection != nullptr && connection->handoff.has_value()) connection->committed = true;
}

int HandoffServer::SocketOf(const httplib::Request& req) {
  Connection* connection = Find(req);
  return connection == nullptr ? -1 : connection->fd;
}

absl::Status HandoffServer::StartConnections() { return gate_.Start(); }

void HandoffServer::StopConnections() {
  gate_.Stop();
  workers_.shutdown();
}

absl::Status HandoffServer::Serve() {
  const socket_t listening = svr_sock_;
  if (listening == INVALID_SOCKET) return absl::FailedPreconditionError("not bound to a port");
  absl::Status served = accept_loop_.Run(listening, [this](int fd) { gate_.Admit(fd, 0); });
  svr_sock_ = INVALID_SOCKET;
  ::shutdown(listening, SHUT_RDWR);
  ::close(listening);
  return served;
}

void HandoffServer::ServeInBackground(std::function<void(const absl::Status&)> on_failure) {
  listener_ = std::thread([this, on_failure = std::move(on_failure)] {
    const absl::Status served = Serve();
    if (served.ok()) return;
    listener_failed_ = true;
    on_failure(served);
  });
}

void HandoffServer::JoinServing() {
  if (listener_.joinable()) listener_.join();
}

void HandoffServer::ServeConnection(int sock, uint32_t served) {
  SocketStream stream(sock, Seconds(read_timeout_sec_, read_timeout_usec_),
                      Seconds(write_timeout_sec_, write_timeout_usec_));
  Connection connection;
  connection.fd = sock;
  std::string serial;
  {
    absl::MutexLock lock(&mu_);
    serial = std::to_string(next_serial_++);
    connections_.emplace(serial, &connection);
  }
  auto setup = [&serial](httplib::Request& req) {
    req.headers.erase(kConnectionHeader);
    req.set_header(kConnectionHeader, serial);
  };

  bool keep_alive = false;
  while (true) {
    const bool last = served + 1 >= keep_alive_max_count_;
    bool connection_closed = false;
    const bool ok = process_request(stream, /*close_connection=*/last, connection_closed, setup);
    ++served;
    if (connection.handoff.has_value()) break;  // hand off, or abandon
    if (!ok || connection_closed || last || svr_sock_ == INVALID_SOCKET) break;
    if (stream.buffered().empty()) {
      keep_alive = true;  // the next request waits in the gate, not on this thread
      break;
    }
    // Pipelined: serve the next request here only when its head is whole,
    // since buffered bytes cannot go back to the gate.
    if (stream.buffered().find("\r\n\r\n") == absl::string_view::npos) break;
  }
  {
    absl::MutexLock lock(&mu_);
    connections_.erase(serial);
  }

  if (connection.handoff.has_value() && connection.committed) {
    connection.handoff->adopt(sock);
    return;
  }
  if (connection.handoff.has_value()) connection.handoff->abandon();
  if (keep_alive) {
    gate_.Admit(sock, served);
    return;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

}  // namespace pushbroker
