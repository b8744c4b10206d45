#include "tests/support/redis_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace pushbroker::testing {
namespace {

// A port nothing listens on now: bind port 0, read it back, let it go.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// Whether `port` can be bound on 127.0.0.1 now.
bool Bindable(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

// Whether a server on `port` answers PING: +PONG, or -NOAUTH when it
// wants a password first.
bool Pings(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool pong = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    timeval timeout{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    char reply[64] = {};
    pong = ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6 &&
           ::recv(fd, reply, sizeof(reply), 0) > 0 &&
           (std::string(reply).find("PONG") != std::string::npos ||
            std::string(reply).find("NOAUTH") != std::string::npos);
  }
  ::close(fd);
  return pong;
}

}  // namespace

absl::StatusOr<RedisServer> RedisServer::Start(std::vector<std::string> extra_args) {
  RedisServer server;
  server.extra_args_ = std::move(extra_args);
  char dir[] = "/tmp/pb-redis-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp failed");
  server.dir_ = dir;
  // A cluster node also listens on its bus port, port + 10000.
  const bool cluster = std::find(server.extra_args_.begin(), server.extra_args_.end(),
                                 "--cluster-enabled") != server.extra_args_.end();
  for (int tries = 0; tries < 100; ++tries) {
    server.port_ = FreePort();
    if (!cluster ||
        (server.port_ > 0 && server.port_ + 10000 <= 65535 && Bindable(server.port_ + 10000))) {
      break;
    }
    server.port_ = 0;
  }
  if (server.port_ == 0 || server.port_ == 6379) return absl::InternalError("no free port");
  if (absl::Status spawned = server.Spawn(); !spawned.ok()) return spawned;
  return server;
}

absl::Status RedisServer::Spawn() {
  std::vector<std::string> args = {"/usr/bin/redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_,
                                   "--daemonize",
                                   "no",
                                   "--loglevel",
                                   "warning"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = ::fork();
  if (pid_ == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!Pings(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("redis-server exited at start on port ", port_));
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("redis-server did not answer");
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::OkStatus();
}

RedisServer::RedisServer(RedisServer&& other) noexcept
    : port_(other.port_),
      pid_(std::exchange(other.pid_, -1)),
      dir_(std::move(other.dir_)),
      extra_args_(std::move(other.extra_args_)) {
  other.dir_.clear();
}

RedisServer::~RedisServer() {
  Kill();
  if (!dir_.empty()) {
    std::error_code ignored;  // a leftover temp dir is harmless
    std::filesystem::remove_all(dir_, ignored);
  }
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);  // a paused process cannot be reaped otherwise
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

absl::Status RedisServer::Restart() {
  Kill();
  return Spawn();
}

void RedisServer::Pause() { ::kill(pid_, SIGSTOP); }
void RedisServer::Resume() { ::kill(pid_, SIGCONT); }

}  // namespace pushbroker::testing
