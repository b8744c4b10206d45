// ChildProcess: a program the test starts (the real push-broker), with its
// stderr on a pipe the test reads. Killed at destruction if still running.
// Not thread-safe.
#ifndef PUSH_BROKER_TESTS_SUPPORT_CHILD_PROCESS_H_
#define PUSH_BROKER_TESTS_SUPPORT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <regex>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace pushbroker::testing {

// Runs a shell command line to its end; its stdout and exit status.
struct CommandResult {
  std::string output;
  int exit_status = -1;
};
CommandResult RunCommand(const std::string& command);

class ChildProcess {
 public:
  // Runs args[0] with `args`, adding `env` ("NAME=value") to the environment.
  static ChildProcess Spawn(std::vector<std::string> args, std::vector<std::string> env = {});
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  // Reads stderr until `pattern` matches or time runs out.
  bool WaitFor(const std::regex& pattern, std::smatch* match, absl::Duration timeout);
  // Waits for exit; the exit code, or -1 on timeout or death by signal.
  int Wait(absl::Duration timeout);

  pid_t pid = -1;
  std::string stderr_text;

 private:
  ChildProcess() = default;
  int stderr_fd_ = -1;
};

// The ports a push-broker started with port 0 reports in its "listening" log
// line.
struct BrokerPorts {
  int grpc = 0;
  int http = 0;
  int admin = 0;
};
// Reads the broker's stderr until that line; false when it does not come.
bool WaitForBrokerPorts(ChildProcess& broker, BrokerPorts* ports,
                        absl::Duration timeout = absl::Seconds(10));

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_CHILD_PROCESS_H_
