// The real push-broker executable as an operator runs it: flags, the start
// line, a publish seen on the SSE stream, SIGTERM, and a bad flag.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pushbroker/v1/broker.grpc.pb.h"
#include "tests/support/sse_client.h"

namespace pushbroker::testing {
namespace {

// A child process with its stderr on a pipe.
struct Child {
  pid_t pid = -1;
  int stderr_fd = -1;
  std::string stderr_text;

  static Child Spawn(std::vector<std::string> args, std::vector<std::string> env = {}) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    Child child;
    child.pid = ::fork();
    if (child.pid == 0) {
      ::dup2(fds[1], STDERR_FILENO);
      for (const std::string& assignment : env) ::putenv(const_cast<char*>(assignment.c_str()));
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    ::close(fds[1]);
    child.stderr_fd = fds[0];
    return child;
  }

  // Reads stderr until `pattern` matches or time runs out.
  bool WaitFor(const std::regex& pattern, std::smatch* match, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!std::regex_search(stderr_text, *match, pattern)) {
      pollfd pfd{stderr_fd, POLLIN, 0};
      const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
      if (ms <= 0 || ::poll(&pfd, 1, ms) <= 0) return false;
      char buffer[4096];
      const ssize_t n = ::read(stderr_fd, buffer, sizeof(buffer));
      if (n <= 0) return false;
      stderr_text.append(buffer, static_cast<size_t>(n));
    }
    return true;
  }

  // Waits for exit; returns the exit code, or -1 on timeout/signal.
  int Wait(absl::Duration timeout) {
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

  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (stderr_fd >= 0) ::close(stderr_fd);
  }
};

TEST(BinaryTest, StartsServesAndStopsCleanlyOnSigterm) {
  Child broker = Child::Spawn({PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0",
                               "--http_port=0", "--admin_port=0", "--retry_ms=2500"});
  std::smatch match;
  ASSERT_TRUE(broker.WaitFor(std::regex("gRPC on :(\\d+), SSE on :(\\d+)"), &match, absl::Seconds(10)))
      << broker.stderr_text;
  const int grpc_port = std::stoi(match[1]);
  const int http_port = std::stoi(match[2]);

  v1::PublishResponse response;
  {
    // Scoped: an idle sync channel reads the server's GOAWAY only when
    // gRPC's backup poller runs (every 5 s), which would hold the exit below.
    auto stub = v1::Broker::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                                        grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    v1::PublishRequest request;
    request.set_client_id("alice");
    request.set_data("from the real binary");
    ASSERT_TRUE(stub->Publish(&context, request, &response).ok());
  }

  auto stream = SseClient::Open(http_port, "/v1/events?client_id=alice");
  ASSERT_NE(stream, nullptr);
  auto event = stream->Next();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data, "from the real binary");
  EXPECT_EQ(event->last_event_id, response.id());

  ASSERT_EQ(::kill(broker.pid, SIGTERM), 0);
  EXPECT_TRUE(stream->WaitForEnd());
  EXPECT_EQ(stream->parser().retry_ms(), 2500u);
  EXPECT_EQ(broker.Wait(absl::Seconds(15)), 0);
}

TEST(BinaryTest, ABadFlagValueIsNamedAndExitsNonZero) {
  Child broker = Child::Spawn({PUSH_BROKER_PATH, "--http_port=70000"});
  std::smatch match;
  EXPECT_TRUE(broker.WaitFor(std::regex("--http_port=70000 is not a port"), &match, absl::Seconds(10)))
      << broker.stderr_text;
  EXPECT_EQ(broker.Wait(absl::Seconds(10)), 2);
}

TEST(BinaryTest, FlagsComeFromTheEnvironmentAndTheCommandLineWins) {
  Child broker = Child::Spawn(
      {PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0", "--admin_port=0", "--retry_ms=4444"},
      {"PUSH_BROKER_HTTP_PORT=0", "PUSH_BROKER_RETRY_MS=1111", "PUSH_BROKER_HEARTBEAT_MS=150"});
  std::smatch match;
  ASSERT_TRUE(broker.WaitFor(std::regex("SSE on :(\\d+)"), &match, absl::Seconds(10)))
      << broker.stderr_text;
  auto stream = SseClient::Open(std::stoi(match[1]), "/v1/events?client_id=alice");
  ASSERT_NE(stream, nullptr);
  EXPECT_FALSE(stream->Next(absl::Milliseconds(600)).has_value());
  EXPECT_EQ(stream->parser().retry_ms(), 4444u);       // the command line beat the environment
  EXPECT_GE(stream->parser().comments(), 2u);          // heartbeat_ms came from the environment
}

TEST(BinaryTest, ABadEnvironmentValueIsNamed) {
  Child broker = Child::Spawn({PUSH_BROKER_PATH}, {"PUSH_BROKER_MAX_CONNECTIONS=lots"});
  std::smatch match;
  EXPECT_TRUE(broker.WaitFor(std::regex("PUSH_BROKER_MAX_CONNECTIONS='lots'"), &match, absl::Seconds(10)))
      << broker.stderr_text;
  EXPECT_EQ(broker.Wait(absl::Seconds(10)), 2);
}

}  // namespace
}  // namespace pushbroker::testing
