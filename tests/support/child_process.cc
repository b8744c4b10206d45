#include "tests/support/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "absl/time/clock.h"

namespace pushbroker::testing {

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

ChildProcess ChildProcess::Spawn(std::vector<std::string> args, std::vector<std::string> env) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ChildProcess();
  ChildProcess child;
  child.pid = ::fork();
  if (child.pid == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    for (std::string& assignment : env) ::putenv(assignment.data());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(fds[1]);
  child.stderr_fd_ = fds[0];
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid(other.pid), stderr_text(std::move(other.stderr_text)), stderr_fd_(other.stderr_fd_) {
  other.pid = -1;
  other.stderr_fd_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid > 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  if (stderr_fd_ >= 0) ::close(stderr_fd_);
}

bool ChildProcess::WaitFor(const std::regex& pattern, std::smatch* match, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!std::regex_search(stderr_text, *match, pattern)) {
    pollfd pfd{stderr_fd_, POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0 || ::poll(&pfd, 1, ms) <= 0) return false;
    char buffer[4096];
    const ssize_t n = ::read(stderr_fd_, buffer, sizeof(buffer));
    if (n <= 0) return false;
    stderr_text.append(buffer, static_cast<size_t>(n));
  }
  return true;
}

int ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return -1;
}

bool WaitForBrokerPorts(ChildProcess& broker, BrokerPorts* ports, absl::Duration timeout) {
  std::smatch match;
  if (!broker.WaitFor(std::regex("\"grpc_port\":(\\d+),\"http_port\":(\\d+),\"admin_port\":(\\d+)"),
                      &match, timeout)) {
    return false;
  }
  ports->grpc = std::stoi(match[1]);
  ports->http = std::stoi(match[2]);
  ports->admin = std::stoi(match[3]);
  return true;
}

}  // namespace pushbroker::testing
