// RedisServer: a real redis-server process for one test, never on 6379: a
// free port on 127.0.0.1, data in a temporary directory, no persistence,
// stopped by PID (SIGKILL) when the object goes. Restart() brings it back
// on the same port as a new process (a new run_id). Not thread-safe.
#ifndef PUSH_BROKER_TESTS_SUPPORT_REDIS_SERVER_H_
#define PUSH_BROKER_TESTS_SUPPORT_REDIS_SERVER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace pushbroker::testing {

class RedisServer {
 public:
  // Starts one and waits until it answers PING. `extra_args` are passed
  // to redis-server ("--requirepass", "secret", ...).
  static absl::StatusOr<RedisServer> Start(std::vector<std::string> extra_args = {});
  RedisServer(RedisServer&& other) noexcept;
  RedisServer(const RedisServer&) = delete;
  ~RedisServer();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  // Kills the process at once, as a crash would.
  void Kill();
  // Starts a new process on the same port and waits for it.
  absl::Status Restart();
  // SIGSTOP / SIGCONT: a server that stops answering without closing.
  void Pause();
  void Resume();

 private:
  RedisServer() = default;
  absl::Status Spawn();

  int port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
  std::vector<std::string> extra_args_;
};

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_REDIS_SERVER_H_
