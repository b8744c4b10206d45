// Hostile and broken HTTP clients against the real edge: oversized heads and
// URLs, the longest head the server accepts (std::regex recursion in
// cpp-httplib), slowloris, and connect-and-drop floods. The broker answers
// each with a clear status or a timely close, spends no thread on a client
// until its request head is complete, and keeps serving everyone else.
#include <fstream>
#include <string>
#include <vector>

#include "httplib.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/raw_connection.h"

namespace pushbroker::testing {
namespace {

int ThreadCount() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

std::string StatusLineOf(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

class HostileClientsTest : public BrokerFixture {
 protected:
  std::unique_ptr<RawConnection> Connect() {
    auto connection = RawConnection::Connect(app_->http_port());
    EXPECT_NE(connection, nullptr);
    return connection;
  }
};

TEST_F(HostileClientsTest, AnOversizedHeadIs431Json) {
  StartBroker();
  auto connection = Connect();
  std::string head = "GET /v1/events?client_id=alice HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 10; ++i)
    head += "X-Filler-" + std::to_string(i) + ": " + std::string(4000, 'f') + "\r\n";
  head += "\r\n";
  ASSERT_TRUE(connection->Send(head));
  const std::string response = connection->ReadUntilClose();
  EXPECT_EQ(StatusLineOf(response), "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_NE(response.find("\"error\":\"headers_too_large\""), std::string::npos) << response;
  EXPECT_NE(response.find("--max_request_head_bytes=32768"), std::string::npos);
  ExpectStillServing("alice");
}

TEST_F(HostileClientsTest, AnEndlessHeadIsCutAtTheLimitNotBuffered) {
  StartBroker([](AppOptions& options) { options.http.max_request_head_bytes = 4096; });
  auto connection = Connect();
  // Never ends its head: the gate answers once the limit is passed.
  std::string head = "GET / HTTP/1.1\r\n";
  while (head.size() < 64 * 1024) head += "X-More: " + std::string(100, 'm') + "\r\n";
  connection->Send(head);  // may fail part-way once the server closes
  EXPECT_EQ(StatusLineOf(connection->ReadUntilClose()),
            "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST_F(HostileClientsTest, ATooLongRequestLineIs414Json) {
  StartBroker([](AppOptions& options) { options.http.max_request_line_bytes = 2048; });
  auto connection = Connect();
  ASSERT_TRUE(connection->Send("GET /v1/events?client_id=alice&pad=" + std::string(3000, 'p') +
                               " HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string response = connection->ReadUntilClose();
  EXPECT_EQ(StatusLineOf(response), "HTTP/1.1 414 URI Too Long");
  EXPECT_NE(response.find("\"error\":\"uri_too_long\""), std::string::npos) << response;
  ExpectStillServing("alice");
}

TEST_F(HostileClientsTest, TheLongestAcceptedPathAndRangeHeaderAreSurvived) {
  StartBroker();
  // The longest request line the server accepts: 8192 bytes with its CRLF.
  // cpp-httplib matches every route's std::regex against the path.
  {
    const std::string prefix = "GET /";
    const std::string suffix = " HTTP/1.1\r\n";
    const std::string path(8192 - prefix.size() - suffix.size(), 'a');
    auto connection = Connect();
    ASSERT_TRUE(connection->Send(prefix + path + suffix + "Host: x\r\nConnection: close\r\n\r\n"));
    const std::string response = connection->ReadUntilClose();
    EXPECT_EQ(StatusLineOf(response), "HTTP/1.1 404 Not Found");
    EXPECT_NE(response.find("\"error\":\"not_found\""), std::string::npos);
  }
  // The longest header line cpp-httplib accepts (8192 bytes with its CRLF),
  // as a Range header, which it parses with a recursive std::regex.
  {
    std::string range = "Range: bytes=0-1";
    while (range.size() + 4 + 2 <= 8192) range += ",0-1";
    range.append(8192 - 2 - range.size(), '1');
    ASSERT_EQ(range.size() + 2, 8192u);
    auto connection = Connect();
    ASSERT_TRUE(connection->Send("GET /v1/events?client_id=alice HTTP/1.1\r\nHost: x\r\n" + range +
                                 "\r\n\r\n"));
    const std::string response = connection->ReadUntilClose(absl::Milliseconds(500));
    // Range is ignored: the stream opens as usual.
    EXPECT_EQ(StatusLineOf(response), "HTTP/1.1 200 OK");
  }
  ExpectStillServing("alice");
}

TEST_F(HostileClientsTest, SlowlorisCostsNoThreadAndIsCutAtTheHeadTimeout) {
  StartBroker([](AppOptions& options) {
    options.http.max_http_threads = 4;
    options.http.head_timeout = absl::Seconds(1);
  });
  ExpectStillServing("warmup");
  const int threads_before = ThreadCount();
  constexpr int kAttackers = 300;
  std::vector<std::unique_ptr<RawConnection>> attackers;
  for (int i = 0; i < kAttackers; ++i) {
    attackers.push_back(Connect());
    ASSERT_TRUE(attackers.back()->Send("GET /v1/events?client_id=victim HTTP/1.1\r\nHost: x\r\n"));
  }
  // Far more attackers than request threads, and a real client is served at once.
  const absl::Time start = absl::Now();
  ExpectStillServing("alice");
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  httplib::Client client("127.0.0.1", app_->http_port());
  auto poll = client.Get("/v1/poll?client_id=bob&timeout_ms=0");
  ASSERT_TRUE(poll);
  EXPECT_EQ(poll->status, 200);
  EXPECT_LT(ThreadCount() - threads_before, 10);
  // Dripping a header line now and then does not extend the deadline.
  for (int round = 0; round < 3; ++round) {
    for (auto& attacker : attackers) attacker->Send("X-Drip: 1\r\n");
    absl::SleepFor(absl::Milliseconds(300));
  }
  int timed_out = 0;
  for (auto& attacker : attackers) {
    const std::string response = attacker->ReadUntilClose(absl::Seconds(2));
    if (StatusLineOf(response) == "HTTP/1.1 408 Request Timeout") ++timed_out;
  }
  EXPECT_EQ(timed_out, kAttackers);
  EXPECT_EQ(app_->http_edge().gate_stats().head_timeouts.load(), static_cast<uint64_t>(kAttackers));
}

TEST_F(HostileClientsTest, ASilentConnectionIsClosedWithoutAnAnswer) {
  StartBroker([](AppOptions& options) { options.http.head_timeout = absl::Milliseconds(500); });
  auto silent = Connect();
  EXPECT_EQ(silent->ReadUntilClose(absl::Seconds(3)), "");
}

TEST_F(HostileClientsTest, ConnectAndDropFloodsLeaveNothingBehind) {
  StartBroker([](AppOptions& options) { options.http.max_http_threads = 8; });
  auto stream = OpenStream("alice");
  ASSERT_EQ(stream->status(), 200);
  const int threads_before = ThreadCount();
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  int cycles = 0;
  for (; cycles < 3000 && absl::Now() < deadline; ++cycles) {
    auto connection = Connect();
    if (cycles % 3 == 1) connection->Send("GET /v1/events?client_id=alice HT");
    if (cycles % 3 == 2) {
      // An abortive close: the server sees a reset.
      connection->ResetOnClose();
      connection->Send("GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n");
    }
  }
  EXPECT_GE(cycles, 1000);
  PublishTo("alice", "after the flood");
  auto event = stream->Next();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data, "after the flood");
  // The gate lets go of every dropped connection.
  const absl::Time settle = absl::Now() + absl::Seconds(5);
  while (app_->http_edge().pending_connections() > 0 && absl::Now() < settle) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(app_->http_edge().pending_connections(), 0u);
  // Threads only ever ran complete requests, at most --max_http_threads.
  EXPECT_LE(ThreadCount() - threads_before, 8);
  ExpectStillServing("bob");
}

TEST_F(HostileClientsTest, KeepAliveAndPipelinedRequestsStillWork) {
  StartBroker();
  auto connection = Connect();
  const std::string favicon = "GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(connection->Send(favicon));
  std::string first = connection->ReadUntilClose(absl::Milliseconds(300));
  EXPECT_EQ(StatusLineOf(first), "HTTP/1.1 204 No Content");
  // The same connection, back from the gate, serves the next request...
  ASSERT_TRUE(connection->Send(favicon));
  EXPECT_EQ(StatusLineOf(connection->ReadUntilClose(absl::Milliseconds(300))),
            "HTTP/1.1 204 No Content");
  // ...and two pipelined ones.
  ASSERT_TRUE(connection->Send(favicon + favicon));
  std::string both = connection->ReadUntilClose(absl::Milliseconds(300));
  size_t answers = 0;
  for (size_t at = both.find("HTTP/1.1 204"); at != std::string::npos;
       at = both.find("HTTP/1.1 204", at + 1)) {
    ++answers;
  }
  EXPECT_EQ(answers, 2u);
}

}  // namespace
}  // namespace pushbroker::testing
