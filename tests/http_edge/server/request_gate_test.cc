// RequestGate over socketpair(): the gate's answers (414, 431, 413, 408)
// and its hand-over of a complete request, with no server behind it and
// time moved by hand.
#include "http_edge/server/request_gate.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "broker/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class RequestGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RequestGateOptions options;
    options.max_head_bytes = 1024;
    options.max_request_line_bytes = 256;
    options.max_body_bytes = 100;
    gate_ = std::make_unique<RequestGate>(
        options,
        [this](int fd, uint32_t served) {
          absl::MutexLock lock(&mu_);
          ready_fd_ = fd;
          ready_served_ = served;
        },
        &clock_);
    ASSERT_THAT(gate_->Start(), IsOk());
  }
  void TearDown() override {
    gate_->Stop();
    absl::MutexLock lock(&mu_);
    if (ready_fd_ >= 0) ::close(ready_fd_);
  }

  // A connected pair: the gate holds one end; the test writes and reads the other.
  int Connect(uint32_t served = 0) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    gate_->Admit(fds[0], served);
    return fds[1];
  }

  static void Send(int fd, const std::string& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  // What the gate answered before closing its end (5 s at most).
  static std::string ReadAnswer(int fd) {
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    std::string answer;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) answer.append(buffer, n);
    ::close(fd);
    return answer;
  }

  bool WaitForReady(absl::Duration timeout = absl::Seconds(5)) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ready_fd_ >= 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  }

  ManualClock clock_;
  std::unique_ptr<RequestGate> gate_;
  absl::Mutex mu_;
  int ready_fd_ ABSL_GUARDED_BY(mu_) = -1;
  uint32_t ready_served_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(RequestGateTest, ACompleteHeadAndBodyPassWithTheirServedCount) {
  const int peer = Connect(/*served=*/3);
  Send(peer, "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel");
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(gate_->pending(), 1u) << "the body is not whole yet";
  Send(peer, "lo");
  ASSERT_TRUE(WaitForReady());
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(ready_served_, 3u);
  EXPECT_EQ(gate_->stats().passed.load(), 1u);
  ::close(peer);
}

TEST_F(RequestGateTest, ALongRequestLineGets414) {
  const int peer = Connect();
  Send(peer, "GET /" + std::string(300, 'a') + " HTTP/1.1\r\n");
  EXPECT_THAT(ReadAnswer(peer), StartsWith("HTTP/1.1 414 "));
  EXPECT_EQ(gate_->stats().head_too_large.load(), 1u);
}

TEST_F(RequestGateTest, ALargeHeadGets431WithAJsonBody) {
  const int peer = Connect();
  std::string head = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 40; ++i) head += "X-Filler: " + std::string(30, 'f') + "\r\n";
  Send(peer, head);
  const std::string answer = ReadAnswer(peer);
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 431 "));
  EXPECT_THAT(answer, HasSubstr("\"error\":\"headers_too_large\""));
}

TEST_F(RequestGateTest, ALargeBodyGets413BeforeAnyOfItArrives) {
  const int peer = Connect();
  Send(peer, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
  EXPECT_THAT(ReadAnswer(peer), StartsWith("HTTP/1.1 413 "));
}

TEST_F(RequestGateTest, AHalfSentHeadGets408OnceItsTimeHasPassed) {
  const int peer = Connect();
  Send(peer, "GET / HTTP/1.1\r\nHost: x");
  absl::SleepFor(absl::Milliseconds(300));  // a few of the gate's turns: nothing yet
  EXPECT_EQ(gate_->pending(), 1u);
  clock_.Advance(absl::Seconds(11));  // past the 10 s head timeout
  EXPECT_THAT(ReadAnswer(peer), StartsWith("HTTP/1.1 408 "));
  EXPECT_EQ(gate_->stats().head_timeouts.load(), 1u);
}

TEST_F(RequestGateTest, ASilentConnectionIsClosedWithoutAnAnswer) {
  const int peer = Connect();
  clock_.Advance(absl::Seconds(11));
  EXPECT_EQ(ReadAnswer(peer), "");
  EXPECT_EQ(gate_->stats().head_timeouts.load(), 0u);
}

}  // namespace
}  // namespace pushbroker
