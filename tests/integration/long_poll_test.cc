// GET /v1/poll over real HTTP: immediate batches, waiting for the next
// message, the cursor that loses nothing, resets, limits and errors.
#include <string>
#include <thread>
#include <vector>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/support/broker_fixture.h"
#include "tests/support/raw_connection.h"

namespace pushbroker::testing {
namespace {

class LongPollTest : public BrokerFixture {
 protected:
  // Polls and returns the parsed batch; fails the test on a non-200.
  nlohmann::json Poll(const std::string& client, const std::string& after, int timeout_ms) {
    httplib::Client http("127.0.0.1", app_->http_port());
    http.set_read_timeout(30, 0);
    std::string target = absl::StrCat("/v1/poll?client_id=", client, "&timeout_ms=", timeout_ms);
    if (!after.empty()) absl::StrAppend(&target, "&after=", after);
    auto res = http.Get(target.c_str());
    EXPECT_TRUE(res);
    if (!res) return nullptr;
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    return nlohmann::json::parse(res->body);
  }

  static std::vector<std::string> Data(const nlohmann::json& batch) {
    std::vector<std::string> out;
    for (const auto& m : batch["messages"]) out.push_back(m["data"]);
    return out;
  }
};

TEST_F(LongPollTest, AnswersAtOnceWithWhatIsWaiting) {
  StartBroker();
  PublishTo("alice", "one");
  PublishTo("alice", "two", "greet");
  const absl::Time start = absl::Now();
  auto batch = Poll("alice", "", 20000);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(Data(batch), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(batch["messages"][0]["event"], "message");
  EXPECT_EQ(batch["messages"][1]["event"], "greet");
  EXPECT_EQ(batch["last_id"], batch["messages"][1]["id"]);
  EXPECT_TRUE(batch["reset"].is_null());
}

TEST_F(LongPollTest, WaitsForTheNextMessage) {
  StartBroker();
  const std::string cursor = Poll("alice", "", 0)["last_id"];
  std::thread publisher([this] {
    absl::SleepFor(absl::Milliseconds(300));
    PublishTo("alice", "worth the wait");
  });
  const absl::Time start = absl::Now();
  auto batch = Poll("alice", cursor, 20000);
  const absl::Duration waited = absl::Now() - start;
  publisher.join();
  EXPECT_EQ(Data(batch), (std::vector<std::string>{"worth the wait"}));
  EXPECT_GE(waited, absl::Milliseconds(250));
  EXPECT_LT(waited, absl::Seconds(5));
}

TEST_F(LongPollTest, TimesOutWithAnEmptyBatchAndAUsableCursor) {
  StartBroker();
  const std::string first = PublishTo("alice", "seen");
  auto batch = Poll("alice", first, 200);
  EXPECT_TRUE(batch["messages"].empty());
  EXPECT_EQ(batch["last_id"], first);
  PublishTo("alice", "next");
  EXPECT_EQ(Data(Poll("alice", batch["last_id"], 0)), (std::vector<std::string>{"next"}));
}

TEST_F(LongPollTest, FollowingTheCursorLosesNothingAndRepeatsNothing) {
  StartBroker();
  constexpr int kMessages = 300;
  std::thread publisher([this] {
    for (int i = 0; i < kMessages; ++i) {
      PublishTo("alice", std::to_string(i));
      if (i % 50 == 0) absl::SleepFor(absl::Milliseconds(20));
    }
  });
  std::vector<std::string> received;
  std::string cursor;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (received.size() < static_cast<size_t>(kMessages) && absl::Now() < deadline) {
    auto batch = Poll("alice", cursor, 2000);
    ASSERT_TRUE(batch["reset"].is_null());
    for (const auto& m : batch["messages"]) received.push_back(m["data"]);
    cursor = batch["last_id"];
  }
  publisher.join();
  ASSERT_EQ(received.size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(received[i], std::to_string(i));
}

TEST_F(LongPollTest, AForeignCursorYieldsAResetAndEverythingRetained) {
  StartBroker();
  const std::string id = PublishTo("alice", "kept");
  auto batch = Poll("alice", "1234abcd-9", 20000);
  ASSERT_FALSE(batch["reset"].is_null());
  EXPECT_EQ(batch["reset"]["reason"], "foreign_epoch");
  EXPECT_EQ(batch["reset"]["earliest_id"], id);
  EXPECT_EQ(Data(batch), (std::vector<std::string>{"kept"}));
}

TEST_F(LongPollTest, DisconnectEndsAWaitingPollWithRetryAdvice) {
  StartBroker();
  const std::string cursor = Poll("alice", "", 0)["last_id"];
  std::thread disconnecter([this] {
    ASSERT_TRUE(WaitForStreams("alice", 1));
    grpc::ClientContext context;
    v1::DisconnectRequest request;
    request.set_client_id("alice");
    request.set_retry_ms(2222);
    v1::DisconnectResponse response;
    EXPECT_TRUE(stub_->Disconnect(&context, request, &response).ok());
  });
  auto batch = Poll("alice", cursor, 20000);
  disconnecter.join();
  EXPECT_TRUE(batch["messages"].empty());
  EXPECT_EQ(batch["retry_ms"], 2222);
}

TEST_F(LongPollTest, BadRequestsGetJsonErrors) {
  StartBroker([](AppOptions& options) { options.http.max_connections = 1; });
  httplib::Client http("127.0.0.1", app_->http_port());
  for (const char* target :
       {"/v1/poll", "/v1/poll?client_id=a%20b", "/v1/poll?client_id=a&timeout_ms=-1",
        "/v1/poll?client_id=a&timeout_ms=60001", "/v1/poll?client_id=a&timeout_ms=soon"}) {
    auto res = http.Get(target);
    ASSERT_TRUE(res) << target;
    EXPECT_EQ(res->status, 400) << target;
    EXPECT_NE(res->body.find("invalid_argument"), std::string::npos) << res->body;
  }
  auto post = http.Post("/v1/poll?client_id=a", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);

  auto stream = OpenStream("holder");  // takes the only connection slot
  ASSERT_TRUE(WaitForStreams("holder", 1));
  auto refused = http.Get("/v1/poll?client_id=a&timeout_ms=0");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_FALSE(refused->get_header_value("Retry-After").empty());
}

TEST_F(LongPollTest, ShutdownAnswersWaitingPollsPromptly) {
  StartBroker();
  const std::string cursor = Poll("alice", "", 0)["last_id"];
  std::thread stopper([this] {
    ASSERT_TRUE(WaitForStreams("alice", 1));
    app_->Shutdown();
  });
  const absl::Time start = absl::Now();
  httplib::Client http("127.0.0.1", app_->http_port());
  http.set_read_timeout(30, 0);
  auto res =
      http.Get(absl::StrCat("/v1/poll?client_id=alice&timeout_ms=30000&after=", cursor).c_str());
  stopper.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  if (res) {
    EXPECT_EQ(res->status, 200);
  }
}

TEST_F(LongPollTest, AnAbandonedPollFreesItsSlotAndThreadAtOnce) {
  // Few request threads, so held ones would starve everyone else.
  StartBroker([](AppOptions& options) { options.http.max_http_threads = 4; });
  const std::string request =
      "GET /v1/poll?client_id=alice&timeout_ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n";
  // More aborted polls than --max_streams_per_client (16) and than threads.
  for (int i = 0; i < 20; ++i) {
    auto connection = RawConnection::Connect(app_->http_port());
    ASSERT_NE(connection, nullptr);
    ASSERT_TRUE(connection->Send(request));
    ASSERT_TRUE(WaitForStreams("alice", 1)) << "poll " << i;
    const absl::Time closed = absl::Now();
    connection.reset();  // the page is closed
    // At once: well before the poll's 60 s (generous for loaded machines).
    ASSERT_TRUE(WaitForStreams("alice", 0, absl::Seconds(10))) << "poll " << i;
    EXPECT_LT(absl::Now() - closed, absl::Seconds(3));
  }
  // The client is not locked out, and other requests are served at once.
  auto stream = OpenStream("alice");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->status(), 200);
  PublishTo("alice", "still here");
  auto events = stream->Take(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "still here");
  EXPECT_EQ(Data(Poll("bob", "", 0)), std::vector<std::string>{});
}

TEST_F(LongPollTest, TheDemoPageIsServed) {
  StartBroker();
  httplib::Client http("127.0.0.1", app_->http_port());
  auto res = http.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(res->body.find("new EventSource("), std::string::npos);
  EXPECT_NE(res->body.find("/v1/poll?"), std::string::npos);
}

}  // namespace
}  // namespace pushbroker::testing
