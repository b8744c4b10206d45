// The HTTP edge's answers to bad or unusual requests: JSON errors with a
// fitting status, connection limits, CORS, Range.
#include <string>

#include "httplib.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::testing {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

class HttpErrorsTest : public BrokerFixture {
 protected:
  httplib::Client Client() {
    httplib::Client client("127.0.0.1", app_->http_port());
    client.set_read_timeout(5, 0);
    return client;
  }
};

TEST_F(HttpErrorsTest, MissingOrMalformedClientIdIs400Json) {
  StartBroker();
  auto client = Client();
  for (const char* target : {"/v1/events", "/v1/events?client_id=", "/v1/events?client_id=a%20b",
                             "/v1/events?client_id=%0Aevil"}) {
    auto res = client.Get(target);
    ASSERT_TRUE(res) << target;
    EXPECT_EQ(res->status, 400) << target;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    EXPECT_NE(res->body.find("\"error\":\"invalid_argument\""), std::string::npos) << res->body;
  }
}

TEST_F(HttpErrorsTest, UnknownPathIs404AndWrongMethodIs405) {
  StartBroker();
  auto client = Client();
  auto missing = client.Get("/v2/everything");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("\"error\":\"not_found\""), std::string::npos);
  auto post = client.Post("/v1/events?client_id=alice", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET, OPTIONS");
  EXPECT_NE(post->body.find("method_not_allowed"), std::string::npos);
}

TEST_F(HttpErrorsTest, OverTheConnectionLimitIs503WithRetryAfter) {
  StartBroker([](AppOptions& options) { options.http.max_connections = 2; });
  auto a = OpenStream("a");
  auto b = OpenStream("b");
  ASSERT_EQ(a->status(), 200);
  ASSERT_EQ(b->status(), 200);
  auto refused = SseClient::Open(app_->http_port(), "/v1/events?client_id=c");
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->status(), 503);
  EXPECT_FALSE(refused->header("retry-after").empty());
  EXPECT_NE(refused->ReadBody().find("too_many_connections"), std::string::npos);
  // A freed slot is usable again.
  a.reset();
  ASSERT_TRUE(WaitForStreams("a", 0));
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  int status = 0;
  while (absl::Now() < deadline && status != 200) {
    auto again = SseClient::Open(app_->http_port(), "/v1/events?client_id=c");
    status = again ? again->status() : 0;
  }
  EXPECT_EQ(status, 200);
}

TEST_F(HttpErrorsTest, CorsAllowsListedOriginsAndRefusesOthers) {
  StartBroker([](AppOptions& options) { options.http.cors_origins = {"https://app.example.com"}; });
  auto allowed = OpenStream("alice", {{"Origin", "https://app.example.com"}});
  EXPECT_EQ(allowed->status(), 200);
  EXPECT_EQ(allowed->header("access-control-allow-origin"), "https://app.example.com");
  auto refused = SseClient::Open(app_->http_port(), "/v1/events?client_id=alice",
                                 {{"Origin", "https://evil.example.net"}});
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->status(), 403);
  EXPECT_TRUE(refused->header("access-control-allow-origin").empty());
  auto same_origin = OpenStream("alice");  // no Origin header: not cross-origin
  EXPECT_EQ(same_origin->status(), 200);
}

TEST_F(HttpErrorsTest, RangeHeaderIsIgnoredOnTheStream) {
  StartBroker();
  PublishTo("alice", "whole");
  auto stream = OpenStream("alice", {{"Range", "bytes=0-3"}});
  EXPECT_EQ(stream->status(), 200);
  auto event = stream->Next();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data, "whole");
}

TEST_F(HttpErrorsTest, GzipIsNeverAppliedToTheStream) {
  StartBroker();
  auto stream = OpenStream("alice", {{"Accept-Encoding", "gzip, deflate, br"}});
  EXPECT_EQ(stream->status(), 200);
  EXPECT_EQ(stream->header("content-type"), "text/event-stream");
  EXPECT_TRUE(stream->header("content-encoding").empty());
}

TEST_F(HttpErrorsTest, ASecondBrokerCannotShareThePorts) {
  StartBroker();
  AppOptions second = TestAppOptions();
  second.http.port = app_->http_port();
  EXPECT_THAT(BrokerApp::Start(second), StatusIs(absl::StatusCode::kUnavailable));
  second = TestAppOptions();
  second.admin.port = app_->admin_port();
  EXPECT_THAT(BrokerApp::Start(second), StatusIs(absl::StatusCode::kUnavailable));
  second = TestAppOptions();
  second.grpc.port = app_->grpc_port();
  EXPECT_THAT(BrokerApp::Start(second), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(HttpErrorsTest, AdminProbes) {
  StartBroker();
  httplib::Client admin("127.0.0.1", app_->admin_port());
  auto live = admin.Get("/livez");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  auto ready = admin.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  app_->Shutdown();
}

}  // namespace
}  // namespace pushbroker::testing
