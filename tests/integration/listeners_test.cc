// The listeners under abuse: request bodies that are too large, have no
// length, or drip; slow heads on the admin port while the kubelet probes;
// accept() errors on the real edge; a listener that dies (readiness fails);
// and the real binary at its descriptor limit.
#include <signal.h>

#include <cerrno>
#include <deque>
#include <regex>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "httplib.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/child_process.h"
#include "tests/support/raw_connection.h"

namespace pushbroker::testing {
namespace {

std::string StatusLineOf(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

class ListenersTest : public BrokerFixture {
 protected:
  std::unique_ptr<RawConnection> Connect(int port) {
    auto connection = RawConnection::Connect(port);
    EXPECT_NE(connection, nullptr);
    return connection;
  }
};

TEST_F(ListenersTest, ABodyOverTheLimitIs413BeforeAnythingReadsIt) {
  StartBroker();
  auto connection = Connect(app_->http_port());
  // Announces 512 MiB and sends the first bytes; nothing is buffered for it.
  ASSERT_TRUE(
      connection->Send("POST /v1/events?client_id=alice HTTP/1.1\r\nHost: x\r\n"
                       "Content-Length: 536870912\r\n\r\n" +
                       std::string(4096, 'b')));
  const std::string response = connection->ReadUntilClose();
  EXPECT_EQ(StatusLineOf(response), "HTTP/1.1 413 Payload Too Large");
  EXPECT_NE(response.find("\"error\":\"body_too_large\""), std::string::npos) << response;
  EXPECT_NE(response.find("--max_request_body_bytes=65536"), std::string::npos);
  ExpectStillServing("alice");
}

TEST_F(ListenersTest, ABodyWithoutALengthIs411AndABadLength400) {
  StartBroker();
  auto chunked = Connect(app_->http_port());
  ASSERT_TRUE(
      chunked->Send("POST /v1/poll?client_id=a HTTP/1.1\r\nHost: x\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
  EXPECT_EQ(StatusLineOf(chunked->ReadUntilClose()), "HTTP/1.1 411 Length Required");
  auto bad = Connect(app_->http_port());
  ASSERT_TRUE(
      bad->Send("POST /v1/poll?client_id=a HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"));
  EXPECT_EQ(StatusLineOf(bad->ReadUntilClose()), "HTTP/1.1 400 Bad Request");
  // A body within the limit reaches the route, which answers as it does.
  httplib::Client http("127.0.0.1", app_->http_port());
  auto post = http.Post("/v1/poll?client_id=a", std::string(1000, 'x'), "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

TEST_F(ListenersTest, DrippingBodiesHoldNoThreadAndTimeOutWith408) {
  StartBroker([](AppOptions& options) {
    options.http.max_http_threads = 4;
    options.http.body_timeout = absl::Seconds(4);
  });
  std::vector<std::unique_ptr<RawConnection>> drippers;
  for (int i = 0; i < 40; ++i) {
    drippers.push_back(Connect(app_->http_port()));
    ASSERT_TRUE(
        drippers.back()->Send("POST /v1/poll?client_id=a HTTP/1.1\r\nHost: x\r\n"
                              "Content-Length: 1000\r\n\r\nab"));
  }
  // Ten times more drippers than request threads: others are served at
  // once, well before the drippers' body timeout could free a thread.
  EXPECT_LT(ExpectStillServing("alice"), absl::Seconds(2));
  for (auto& dripper : drippers) ASSERT_TRUE(dripper->Send("c"));
  for (auto& dripper : drippers) {
    const std::string response = dripper->ReadUntilClose(absl::Seconds(10));
    EXPECT_EQ(StatusLineOf(response), "HTTP/1.1 408 Request Timeout");
    EXPECT_NE(response.find("--http_body_timeout"), std::string::npos) << response;
  }
}

TEST_F(ListenersTest, ProbesAreAnsweredWhileSlowHeadsHoldTheAdminPort) {
  StartBroker();
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(Connect(app_->admin_port()));
    ASSERT_TRUE(slow.back()->Send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  }
  // Answered at once, not after the slow heads' 10 s timeout frees the
  // port: 2 s leaves room for a loaded machine under ASan (1 s flaked).
  httplib::Client admin("127.0.0.1", app_->admin_port());
  admin.set_read_timeout(2, 0);
  for (const char* path : {"/readyz", "/livez", "/metrics"}) {
    const absl::Time start = absl::Now();
    auto res = admin.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << path;
  }
}

// Fails the first calls with the given errnos, then accepts for real.
AcceptLoop::AcceptFunction Scripted(std::deque<int> errors) {
  auto mu = std::make_shared<absl::Mutex>();
  auto left = std::make_shared<std::deque<int>>(std::move(errors));
  return [mu, left](int fd) {
    {
      absl::MutexLock lock(mu.get());
      if (!left->empty()) {
        errno = left->front();
        left->pop_front();
        return -1;
      }
    }
    return ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
  };
}

TEST_F(ListenersTest, TransientAcceptErrorsLeaveTheEdgeListening) {
  StartBroker([](AppOptions& options) {
    options.http.accept = Scripted({ENFILE, ENOBUFS, ECONNABORTED, EMFILE, EPROTO});
  });
  ExpectStillServing("alice");
  EXPECT_TRUE(app_->ListenersHealthy());
  httplib::Client admin("127.0.0.1", app_->admin_port());
  auto metrics = admin.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(
      metrics->body.find("pushbroker_accept_errors_total{listener=\"http\",kind=\"resource\"} 3\n"),
      std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find(
                "pushbroker_accept_errors_total{listener=\"http\",kind=\"connection\"} 2\n"),
            std::string::npos);
}

TEST_F(ListenersTest, AListenerThatDiesTurnsReadinessOff) {
  StartBroker([](AppOptions& options) { options.http.accept = Scripted({EBADF}); });
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (app_->ListenersHealthy() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  EXPECT_FALSE(app_->ListenersHealthy());
  httplib::Client admin("127.0.0.1", app_->admin_port());
  auto ready = admin.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  // The admin listener dies the same way.
}

TEST(ListenersBinaryTest, TheRealBinaryRidesOutItsDescriptorLimit) {
  ChildProcess broker = ChildProcess::Spawn(
      {"/usr/bin/prlimit", "--nofile=200:200", PUSH_BROKER_PATH, "--bind_address=127.0.0.1",
       "--grpc_port=0", "--http_port=0", "--admin_port=0", "--drain_spread=0s"});
  BrokerPorts ports;
  ASSERT_TRUE(WaitForBrokerPorts(broker, &ports)) << broker.stderr_text;
  const int http_port = ports.http;
  const int admin_port = ports.admin;
  // Every part of the broker runs before the descriptors run out: under a
  // sanitizer, a thread's first checks need a descriptor of their own.
  ASSERT_NE(SseClient::Open(http_port, "/v1/events?client_id=warmup"), nullptr);
  absl::SleepFor(absl::Milliseconds(200));
  // Silent connections wait in the gate, each holding a descriptor, until
  // the broker has none left and accept() fails with EMFILE.
  std::vector<std::unique_ptr<RawConnection>> hogs;
  for (int i = 0; i < 260; ++i) {
    auto connection = RawConnection::Connect(http_port);
    if (connection != nullptr) hogs.push_back(std::move(connection));
  }
  absl::SleepFor(absl::Milliseconds(500));
  hogs.clear();  // the descriptors come back
  // The edge still listens, and readiness stayed true. The broker frees the
  // hogs' descriptors as it reads their ends (slower under a sanitizer),
  // so the stream may take a few tries within a bounded time.
  std::unique_ptr<SseClient> stream;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (stream == nullptr && absl::Now() < deadline) {
    stream = SseClient::Open(http_port, "/v1/events?client_id=alice");
    if (stream == nullptr) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_NE(stream, nullptr) << broker.stderr_text;
  EXPECT_EQ(stream->status(), 200);
  httplib::Client admin("127.0.0.1", admin_port);
  auto ready = admin.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto metrics = admin.Get("/metrics");
  ASSERT_TRUE(metrics);
  std::smatch errors;
  const std::regex resource(
      "pushbroker_accept_errors_total\\{listener=\"http\",kind=\"resource\"\\} (\\d+)");
  ASSERT_TRUE(std::regex_search(metrics->body, errors, resource)) << metrics->body;
  EXPECT_GT(std::stoi(errors[1]), 0);
  ASSERT_EQ(::kill(broker.pid, SIGTERM), 0);
  EXPECT_EQ(broker.Wait(absl::Seconds(15)), 0);
}

}  // namespace
}  // namespace pushbroker::testing
