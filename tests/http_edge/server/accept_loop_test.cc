// AcceptLoop over a real listening socket, with accept() errors injected
// through its seam: transient ones are ridden out and counted, a broken
// listening socket ends the loop with its error.
#include "http_edge/server/accept_loop.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <deque>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/raw_connection.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

// A listening socket on 127.0.0.1 and its port.
int ListenLoopback(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Fails the first calls with the given errnos, then accepts for real.
class ScriptedAccept {
 public:
  explicit ScriptedAccept(std::deque<int> errors) : errors_(std::move(errors)) {}
  int operator()(int fd) {
    {
      absl::MutexLock lock(&mu_);
      if (!errors_.empty()) {
        errno = errors_.front();
        errors_.pop_front();
        return -1;
      }
    }
    return ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  }

 private:
  absl::Mutex mu_;
  std::deque<int> errors_ ABSL_GUARDED_BY(mu_);
};

TEST(AcceptLoopTest, TransientErrorsAreRiddenOutAndCounted) {
  int port = 0;
  const int listener = ListenLoopback(&port);
  ASSERT_GE(listener, 0);
  auto script = std::make_shared<ScriptedAccept>(
      std::deque<int>{ECONNABORTED, ENFILE, ENOBUFS, EMFILE, EPROTO, ENOMEM, EINTR, EPERM});
  AcceptLoop loop([script](int fd) { return (*script)(fd); });
  std::atomic<int> accepted{0};
  absl::Status result;
  std::thread runner([&] {
    result = loop.Run(listener, [&](int fd) {
      ::close(fd);
      ++accepted;
    });
  });
  const int client = testing::ConnectLoopback(port);
  ASSERT_GE(client, 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (accepted.load() == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(accepted.load(), 1);
  EXPECT_EQ(loop.stats().resource_errors.load(), 4u);    // ENFILE, ENOBUFS, EMFILE, ENOMEM
  EXPECT_EQ(loop.stats().connection_errors.load(), 3u);  // ECONNABORTED, EPROTO, EPERM
  loop.Stop();
  runner.join();
  EXPECT_THAT(result, IsOk());
  ::close(client);
  ::close(listener);
}

TEST(AcceptLoopTest, ABrokenListeningSocketEndsTheLoopWithItsError) {
  int port = 0;
  const int listener = ListenLoopback(&port);
  ASSERT_GE(listener, 0);
  AcceptLoop loop([](int) {
    errno = EBADF;
    return -1;
  });
  const absl::Status result = loop.Run(listener, [](int fd) { ::close(fd); });
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kInternal));
  EXPECT_NE(result.message().find("accept"), absl::string_view::npos);
  ::close(listener);
}

TEST(AcceptLoopTest, AStopBeforeRunIsNotLost) {
  int port = 0;
  const int listener = ListenLoopback(&port);
  ASSERT_GE(listener, 0);
  AcceptLoop loop;
  loop.Stop();
  EXPECT_TRUE(loop.Run(listener, [](int fd) { ::close(fd); }).ok());
  ::close(listener);
}

}  // namespace
}  // namespace pushbroker
