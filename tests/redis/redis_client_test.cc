// RedisClient against a real redis-server (pipelining, the handshake, a
// crash and a restart) and against a scripted fake node over socketpair()
// (replies split anywhere, a node that stops answering): each outcome says
// exactly whether a command may have run.
#include "redis/redis_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/redis_server.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::redis {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::RedisServer;
using ::pushbroker::testing::StatusIs;
using ::testing::HasSubstr;

std::unique_ptr<RedisClient> StartClient(RedisClientOptions options) {
  absl::StatusOr<std::unique_ptr<RedisClient>> client = RedisClient::Start(std::move(options));
  EXPECT_THAT(client, IsOk());
  return client.ok() ? *std::move(client) : nullptr;
}

TEST(RedisClientTest, TalksToARealServerAndKnowsItsRunId) {
  absl::StatusOr<RedisServer> server = RedisServer::Start();
  ASSERT_THAT(server, IsOk());
  auto client = StartClient(ConnectionTo(server->address()));
  absl::StatusOr<RespValue> set = client->Call({"SET", "greeting", std::string("hi\0there", 8)});
  ASSERT_THAT(set, IsOk());
  EXPECT_EQ(set->text, "OK");
  absl::StatusOr<RespValue> get = client->Call({"GET", "greeting"});
  ASSERT_THAT(get, IsOk());
  EXPECT_EQ(get->text, std::string("hi\0there", 8));
  EXPECT_EQ(client->run_id().size(), 40u);
  EXPECT_TRUE(client->connected());
  absl::StatusOr<RespValue> name = client->Call({"CLIENT", "GETNAME"});
  ASSERT_THAT(name, IsOk());
  EXPECT_EQ(name->text, "push-broker");
  // An error reply is a reply.
  absl::StatusOr<RespValue> wrong = client->Call({"INCR", "greeting"});
  ASSERT_THAT(wrong, IsOk());
  EXPECT_TRUE(wrong->is_error());
}

TEST(RedisClientTest, PipelinedCommandsAreAnsweredInOrder) {
  absl::StatusOr<RedisServer> server = RedisServer::Start();
  ASSERT_THAT(server, IsOk());
  auto client = StartClient(ConnectionTo(server->address()));
  constexpr int kCommands = 20000;
  absl::Mutex mu;
  std::vector<int64_t> seen;
  absl::Notification all;
  for (int i = 0; i < kCommands; ++i) {
    client->Submit({"INCR", "counter"}, [&](absl::StatusOr<RespValue> reply) {
      absl::MutexLock lock(&mu);
      seen.push_back(reply.ok() ? reply->integer : -1);
      if (seen.size() == kCommands) all.Notify();
    });
  }
  ASSERT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(30)));
  absl::MutexLock lock(&mu);
  for (int i = 0; i < kCommands; ++i) ASSERT_EQ(seen[i], i + 1) << i;
}

TEST(RedisClientTest, APasswordIsSentFirstAndAWrongOneIsNamed) {
  absl::StatusOr<RedisServer> server = RedisServer::Start({"--requirepass", "s3cret"});
  ASSERT_THAT(server, IsOk());
  RedisClientOptions options = ConnectionTo(server->address());
  options.password = "s3cret";
  auto client = StartClient(options);
  EXPECT_THAT(client->Call({"PING"}), IsOk());

  options.password = "wrong";
  options.io_timeout = absl::Milliseconds(500);
  auto refused = StartClient(options);
  EXPECT_THAT(refused->Call({"PING"}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not sent: AUTH")));
}

TEST(RedisClientTest, ACrashedServerIsNamedAndARestartedOneIsUsedAgain) {
  absl::StatusOr<RedisServer> server = RedisServer::Start();
  ASSERT_THAT(server, IsOk());
  RedisClientOptions options = ConnectionTo(server->address());
  options.io_timeout = absl::Milliseconds(500);
  options.max_backoff = absl::Milliseconds(200);
  auto client = StartClient(options);
  ASSERT_THAT(client->Call({"PING"}), IsOk());
  const std::string first_run = client->run_id();

  server->Kill();
  EXPECT_THAT(client->Call({"PING"}), StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_THAT(server->Restart(), IsOk());
  absl::StatusOr<RespValue> pong;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    pong = client->Call({"PING"});
  } while (!pong.ok() && absl::Now() < deadline);
  ASSERT_THAT(pong, IsOk());
  EXPECT_NE(client->run_id(), first_run) << "a new process is a new incarnation";
}

TEST(RedisClientTest, AServerThatStopsAnsweringGivesOutcomeUnknown) {
  absl::StatusOr<RedisServer> server = RedisServer::Start();
  ASSERT_THAT(server, IsOk());
  RedisClientOptions options = ConnectionTo(server->address());
  options.io_timeout = absl::Milliseconds(300);
  auto client = StartClient(options);
  ASSERT_THAT(client->Call({"PING"}), IsOk());
  server->Pause();
  const absl::Time start = absl::Now();
  EXPECT_THAT(client->Call({"SET", "k", "v"}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("outcome unknown")));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  server->Resume();
}

// A node played by the test over socketpair(): it reads what the client
// sends and answers with bytes the test chooses.
class FakeNode {
 public:
  FakeNode() {
    int fds[2];
    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
    client_end_ = fds[0];
    node_end_ = fds[1];
    timeval timeout{5, 0};
    ::setsockopt(node_end_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~FakeNode() {
    if (node_end_ >= 0) ::close(node_end_);
  }
  // The connect seam: the client's end, once.
  std::function<int()> Connector() {
    return [this] { return std::exchange(client_end_, -1); };
  }
  // Reads until `count` commands (RESP arrays) have arrived.
  std::string ReadCommands(int count) {
    std::string got;
    char buffer[4096];
    while (Commands(got) < count) {
      const ssize_t n = ::recv(node_end_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      got.append(buffer, n);
    }
    return got;
  }
  void Send(absl::string_view bytes) {
    ::send(node_end_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  void Close() {
    ::close(node_end_);
    node_end_ = -1;
  }

 private:
  static int Commands(const std::string& bytes) {
    int count = 0;
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] == '*' && (i == 0 || bytes[i - 1] == '\n')) ++count;
    }
    return count;
  }
  int client_end_ = -1;
  int node_end_ = -1;
};

constexpr char kInfo[] = "$25\r\n# Server\r\nrun_id:abc123\r\n\r\n";

TEST(RedisClientTest, RepliesSplitAnywhereAreReadWhole) {
  FakeNode node;
  RedisClientOptions options;
  options.connect = node.Connector();
  auto client = StartClient(options);
  absl::Notification answered;
  absl::StatusOr<RespValue> reply;
  client->Submit({"LRANGE", "l", "0", "-1"}, [&](absl::StatusOr<RespValue> r) {
    reply = std::move(r);
    answered.Notify();
  });
  EXPECT_THAT(node.ReadCommands(2), HasSubstr("SETNAME"));  // CLIENT SETNAME, INFO
  node.Send("+OK\r\n");
  node.Send(kInfo);
  EXPECT_THAT(node.ReadCommands(1), HasSubstr("LRANGE"));
  const std::string answer = "*2\r\n$5\r\nfirst\r\n$6\r\nsecond\r\n";
  for (char byte : answer) {
    node.Send(absl::string_view(&byte, 1));
    absl::SleepFor(absl::Microseconds(200));
  }
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(5)));
  ASSERT_THAT(reply, IsOk());
  ASSERT_EQ(reply->elements.size(), 2u);
  EXPECT_EQ(reply->elements[1].text, "second");
  EXPECT_EQ(client->run_id(), "abc123");
}

TEST(RedisClientTest, ACommandNeverSentIsNotSentAndOneSentIsUnknown) {
  FakeNode node;
  RedisClientOptions options;
  options.connect = node.Connector();
  options.io_timeout = absl::Milliseconds(300);
  auto client = StartClient(options);
  absl::Notification first_done;
  absl::StatusOr<RespValue> first;
  client->Submit({"SET", "a", "1"}, [&](absl::StatusOr<RespValue> r) {
    first = std::move(r);
    first_done.Notify();
  });
  node.ReadCommands(2);
  node.Send("+OK\r\n");
  node.Send(kInfo);
  node.ReadCommands(1);  // the SET went out; the node never answers, then goes
  node.Close();
  ASSERT_TRUE(first_done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_THAT(first, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("outcome unknown")));
  // No node to reconnect to now (the seam gives -1): never sent.
  EXPECT_THAT(client->Call({"GET", "a"}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not sent")));
}

TEST(RedisClientTest, PastItsBacklogTheClientRefusesAtOnce) {
  RedisClientOptions options;
  options.connect = [] { return -1; };  // never connects
  options.max_pending = 10;
  options.io_timeout = absl::Seconds(5);
  auto client = StartClient(options);
  std::atomic<int> refused{0};
  for (int i = 0; i < 11; ++i) {
    client->Submit({"PING"}, [&](absl::StatusOr<RespValue> r) {
      if (absl::IsResourceExhausted(r.status())) ++refused;
    });
  }
  EXPECT_EQ(refused.load(), 1);
}

}  // namespace
}  // namespace pushbroker::redis
