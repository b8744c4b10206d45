// Watch and the way back, against the real broker over real gRPC and HTTP:
// presence with its grace, stream ends, delivery receipts that wait for the
// bytes, acks and messages from pages (tokens, CORS, limits), groups that
// share events exactly once and redeliver a dead member's, resume with
// after_id and an explicit dropped count, and Publish waiting for receipts.
#include <sys/socket.h>

#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "auth/client_token.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/support/broker_fixture.h"
#include "tests/support/status_matchers.h"
#include "tests/support/watch_client.h"

namespace pushbroker::testing {
namespace {

v1::WatchRequest Kinds(std::vector<std::string> kinds, const std::string& group = "") {
  v1::WatchRequest request;
  for (const std::string& kind : kinds) request.add_kinds(kind);
  request.set_group(group);
  return request;
}

std::vector<std::string> KindsOf(const std::vector<v1::BrokerEvent>& events) {
  std::vector<std::string> kinds;
  for (const auto& event : events) kinds.push_back(event.kind());
  return kinds;
}

class WatchTest : public BrokerFixture {
 protected:
  std::unique_ptr<WatchClient> Watch(v1::WatchRequest request, WatchClient::Options options = {}) {
    const size_t open = app_->broker().events().watchers() + 1;
    auto watcher = WatchClient::Open(stub_.get(), std::move(request), options);
    // The watch is open once the broker counts it.
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (app_->broker().events().watchers() < open && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return watcher;
  }

  httplib::Result Post(const std::string& path, const std::string& body,
                       const httplib::Headers& headers = {}) {
    httplib::Client http("127.0.0.1", app_->http_port());
    return http.Post(path.c_str(), headers, body, "application/json");
  }
};

TEST_F(WatchTest, OnlineAndOfflineWaitOutTheGraceSoAReconnectIsNoFlap) {
  StartBroker([](AppOptions& options) { options.broker.offline_grace = absl::Milliseconds(400); });
  auto watcher = Watch(Kinds({"online", "offline", "stream_opened", "stream_closed"}));
  auto stream = OpenStream("alice");
  auto online = watcher->WaitFor(2);
  ASSERT_EQ(KindsOf(online), (std::vector<std::string>{"online", "stream_opened"}));
  EXPECT_EQ(online[0].client_id(), "alice");
  EXPECT_EQ(online[0].transport(), "sse");
  EXPECT_EQ(online[1].streams(), 1u);
  EXPECT_FALSE(online[0].replica().empty());

  // Gone and back within the grace: stream events, no presence change.
  stream->CloseSocket();
  ASSERT_TRUE(watcher->WaitForEvent([](const auto& e) { return e.kind() == "stream_closed"; }));
  stream = OpenStream("alice");
  watcher->WaitFor(4);
  absl::SleepFor(absl::Milliseconds(700));
  EXPECT_EQ(
      KindsOf(watcher->events()),
      (std::vector<std::string>{"online", "stream_opened", "stream_closed", "stream_opened"}));
  EXPECT_EQ(watcher->events()[2].reason(), "peer_closed");

  // Gone for good: offline once the grace has passed.
  const absl::Time closed = absl::Now();
  stream->CloseSocket();
  auto offline = watcher->WaitForEvent([](const auto& e) { return e.kind() == "offline"; });
  ASSERT_TRUE(offline.has_value());
  EXPECT_GE(absl::Now() - closed, absl::Milliseconds(350));
  EXPECT_EQ(offline->client_id(), "alice");
}

TEST_F(WatchTest, StreamClosedSaysWhy) {
  StartBroker();
  auto watcher = Watch(Kinds({"stream_closed"}));
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  grpc::ClientContext context;
  v1::DisconnectRequest request;
  request.set_client_id("alice");
  v1::DisconnectResponse response;
  ASSERT_TRUE(stub_->Disconnect(&context, request, &response).ok());
  auto closed = watcher->WaitFor(1);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].reason(), "server_closed");
  EXPECT_EQ(closed[0].streams(), 0u);

  // A long poll that times out, then one that is answered.
  httplib::Client http("127.0.0.1", app_->http_port());
  ASSERT_EQ(http.Get("/v1/poll?client_id=bob&timeout_ms=50")->status, 200);
  PublishTo("bob", "x");
  ASSERT_EQ(http.Get("/v1/poll?client_id=bob&timeout_ms=50")->status, 200);
  auto polls = watcher->WaitFor(3);
  ASSERT_EQ(polls.size(), 3u);
  EXPECT_EQ(polls[1].transport(), "poll");
  EXPECT_EQ(polls[1].reason(), "timeout");
  EXPECT_EQ(polls[2].reason(), "answered");
}

TEST_F(WatchTest, DeliveredOnlyOnceTheBytesAreWritten) {
  // A small socket buffer and a reader that stops: most messages cannot be
  // written, so they must not count as delivered.
  StartBroker([](AppOptions& options) {
    options.http.stream_socket_buffer_bytes = 16 * 1024;
    options.http.max_stream_queue_bytes = 32 << 20;
    options.broker.limits.max_message_bytes = 256 * 1024;
  });
  auto watcher = Watch(Kinds({"delivered"}));
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  // The client never reads from here on.
  std::vector<std::string> ids;
  const std::string big(200 * 1024, 'x');
  for (int i = 0; i < 40; ++i) ids.push_back(PublishTo("alice", big));
  absl::SleepFor(absl::Milliseconds(500));
  const size_t delivered_while_stopped = watcher->events().size();
  EXPECT_LT(delivered_while_stopped, 40u) << "a stopped reader got every message 'delivered'";
  // Each delivered event names a message that was written, in order.
  for (size_t i = 0; i < delivered_while_stopped; ++i) {
    EXPECT_EQ(watcher->events()[i].message_id(), ids[i]);
  }
  // The reader drains: every message is delivered now.
  auto read = stream->Take(41, absl::Seconds(20));
  auto all = watcher->WaitFor(40, absl::Seconds(20));
  ASSERT_EQ(all.size(), 40u);
  EXPECT_EQ(all.back().message_id(), ids.back());
  EXPECT_EQ(all.back().transport(), "sse");
}

TEST_F(WatchTest, PollsCountAsDeliveredAndPagesAcknowledge) {
  StartBroker();
  auto watcher = Watch(Kinds({"delivered", "acked"}));
  const std::string first = PublishTo("alice", "one");
  const std::string second = PublishTo("alice", "two");
  httplib::Client http("127.0.0.1", app_->http_port());
  ASSERT_EQ(http.Get("/v1/poll?client_id=alice&timeout_ms=0")->status, 200);
  auto delivered = watcher->WaitFor(2);
  ASSERT_EQ(delivered.size(), 2u);
  EXPECT_EQ(delivered[0].message_id(), first);
  EXPECT_EQ(delivered[1].message_id(), second);
  EXPECT_EQ(delivered[1].transport(), "poll");

  auto res = Post("/v1/ack?client_id=alice", nlohmann::json({{"ids", {first, second}}}).dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(nlohmann::json::parse(res->body)["acked"], 2);
  auto acked = watcher->WaitFor(4);
  ASSERT_EQ(acked.size(), 4u);
  EXPECT_EQ(acked[2].kind(), "acked");
  EXPECT_EQ(acked[2].message_id(), first);

  // Bad input: a clear error, and nothing recorded.
  for (const std::string& body :
       {std::string("not json"), std::string(R"({"ids": "one"})"), std::string(R"({"ids": [1]})"),
        std::string(R"({"ids": ["nonsense"]})"), std::string(R"({"ids": []})"),
        nlohmann::json({{"ids", {"1-99999"}}}).dump()}) {
    auto bad = Post("/v1/ack?client_id=alice", body);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400) << body;
    EXPECT_TRUE(nlohmann::json::parse(bad->body).contains("error")) << bad->body;
  }
  EXPECT_EQ(Post("/v1/ack?client_id=nobody", R"({"ids": ["1-1"]})")->status, 404);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(watcher->events().size(), 4u);
}

TEST_F(WatchTest, PagesSendMessagesUp) {
  StartBroker();
  auto watcher = Watch(Kinds({"client_message"}));
  auto res = Post("/v1/messages?client_id=alice", R"({"event": "vote", "data": "blue"})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202) << res->body;
  const std::string id = nlohmann::json::parse(res->body)["id"];
  auto messages = watcher->WaitFor(1);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].id(), id);
  EXPECT_EQ(messages[0].client_id(), "alice");
  EXPECT_EQ(messages[0].event(), "vote");
  EXPECT_EQ(messages[0].data(), "blue");

  for (const std::string& body :
       {std::string("[1]"), std::string(R"({"data": 5})"), std::string(R"({"event": "a\nb"})"),
        std::string("{\"data\": \"\xff\"}")}) {
    auto bad = Post("/v1/messages?client_id=alice", body);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400) << body << " -> " << bad->body;
  }
  auto big = Post("/v1/messages?client_id=alice",
                  nlohmann::json({{"data", std::string(9000, 'x')}}).dump());
  EXPECT_EQ(big->status, 413);
  httplib::Client http("127.0.0.1", app_->http_port());
  EXPECT_EQ(http.Get("/v1/messages?client_id=alice")->status, 405);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(watcher->events().size(), 1u);
}

TEST_F(WatchTest, UpstreamIsRateLimitedPerClient) {
  StartBroker([](AppOptions& options) {
    options.http.upstream_rate_per_client = 1;
    options.http.upstream_burst_per_client = 3;
  });
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Post("/v1/messages?client_id=alice", R"({"data": "x"})")->status, 202);
  }
  auto refused = Post("/v1/messages?client_id=alice", R"({"data": "x"})");
  EXPECT_EQ(refused->status, 429);
  EXPECT_GE(std::stoi(refused->get_header_value("Retry-After")), 1);
  EXPECT_EQ(Post("/v1/ack?client_id=alice", R"({"ids": ["1-1"]})")->status, 429);
  // Another client has its own bucket.
  EXPECT_EQ(Post("/v1/messages?client_id=bob", R"({"data": "x"})")->status, 202);
}

TEST_F(WatchTest, UpstreamTakesTheClientTokenAndTheCorsPolicy) {
  const std::string secret = "secret-0123456789abcdef0123456789abcdef";
  const std::string file = ::testing::TempDir() + "/watch_secrets_" + std::to_string(::getpid());
  std::ofstream(file) << secret << "\n";
  StartBroker([&](AppOptions& options) {
    options.client_auth.secret_file = file;
    options.http.cors_origins = {"https://app.example"};
  });
  const absl::Time now = absl::Now();
  const std::string alice = SignClientToken("alice", now, now + absl::Hours(1), secret);
  const std::string body = R"({"data": "hi"})";
  EXPECT_EQ(Post("/v1/messages?client_id=alice", body)->status, 401);
  EXPECT_EQ(Post("/v1/messages?client_id=bob&token=" + alice, body)->status, 403);
  EXPECT_EQ(Post("/v1/messages?client_id=alice&token=" + alice, body)->status, 202);
  EXPECT_EQ(
      Post("/v1/messages?client_id=alice", body, {{"Authorization", "Bearer " + alice}})->status,
      202);
  EXPECT_EQ(
      Post("/v1/ack?client_id=alice", R"({"ids": ["1-1"]})", {{"Cookie", "pb_token=" + alice}})
          ->status,
      404);  // admitted (alice has no mailbox yet)
  EXPECT_EQ(Post("/v1/messages?client_id=alice&token=" + alice, body,
                 {{"Origin", "https://evil.example"}})
                ->status,
            403);
  // A page the broker serves itself posts with its own origin.
  EXPECT_EQ(Post("/v1/messages?client_id=alice&token=" + alice, body,
                 {{"Origin", absl::StrCat("http://127.0.0.1:", app_->http_port())}})
                ->status,
            202);
  auto allowed = Post("/v1/messages?client_id=alice&token=" + alice, body,
                      {{"Origin", "https://app.example"}});
  EXPECT_EQ(allowed->status, 202);
  EXPECT_EQ(allowed->get_header_value("Access-Control-Allow-Origin"), "https://app.example");

  httplib::Client http("127.0.0.1", app_->http_port());
  auto preflight = http.Options("/v1/messages?client_id=alice",
                                {{"Origin", "https://app.example"},
                                 {"Access-Control-Request-Method", "POST"},
                                 {"Access-Control-Request-Headers", "content-type"}});
  ASSERT_TRUE(preflight);
  EXPECT_EQ(preflight->status, 204);
  EXPECT_NE(preflight->get_header_value("Access-Control-Allow-Methods").find("POST"),
            std::string::npos);
  EXPECT_NE(preflight->get_header_value("Access-Control-Allow-Headers").find("Content-Type"),
            std::string::npos);
  EXPECT_EQ(http.Options("/v1/ack", {{"Origin", "https://evil.example"}})->status, 403);
}

// Three members of one group share 10,000 events: each exactly once.
TEST_F(WatchTest, AGroupSharesEventsEachToExactlyOneMember) {
  StartBroker();
  constexpr int kEvents = 10000;
  std::vector<std::unique_ptr<WatchClient>> members;
  for (int i = 0; i < 3; ++i) {
    members.push_back(Watch(Kinds({"client_message"}, "tally"), {/*auto_confirm=*/true}));
  }
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_THAT(
        app_->broker().ReceiveFromClient("c" + std::to_string(i % 50), "vote", std::to_string(i)),
        IsOk());
  }
  std::multiset<std::string> seen;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    size_t total = 0;
    for (auto& member : members) total += member->events().size();
    if (total >= kEvents) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::SleepFor(absl::Milliseconds(200));  // nothing more may come
  std::vector<size_t> shares;
  for (auto& member : members) {
    shares.push_back(member->events().size());
    for (const auto& event : member->events()) seen.insert(event.data());
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kEvents));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), static_cast<size_t>(kEvents));
  for (size_t share : shares) EXPECT_GT(share, 0u) << "a member got nothing";
}

// A member that dies holding unconfirmed events: they reach another member.
TEST_F(WatchTest, ADeadMembersUnconfirmedEventsGoToAnother) {
  StartBroker();
  auto survivor = Watch(Kinds({"client_message"}, "g"), {/*auto_confirm=*/true});
  auto doomed = Watch(Kinds({"client_message"}, "g"));  // reads, never confirms
  for (int i = 0; i < 1000; ++i) {
    ASSERT_THAT(app_->broker().ReceiveFromClient("c", "e", std::to_string(i)), IsOk());
  }
  absl::SleepFor(absl::Milliseconds(300));
  const size_t doomed_got = doomed->events().size();
  ASSERT_GT(doomed_got, 0u);
  doomed->Cancel();
  std::set<std::string> survivor_seen;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && survivor_seen.size() < 1000) {
    survivor_seen.clear();
    for (const auto& event : survivor->events()) survivor_seen.insert(event.data());
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(survivor_seen.size(), 1000u) << "the dead member's events were lost";
  EXPECT_GE(app_->broker().events().redelivered(), doomed_got);
}

TEST_F(WatchTest, AnEventNotConfirmedInTimeGoesToAnotherMember) {
  StartBroker(
      [](AppOptions& options) { options.broker.watch.ack_timeout = absl::Milliseconds(300); });
  auto sleepy = Watch(Kinds({"client_message"}, "g"));  // never confirms
  ASSERT_THAT(app_->broker().ReceiveFromClient("c", "e", "only"), IsOk());
  ASSERT_EQ(sleepy->WaitFor(1).size(), 1u);
  auto awake = Watch(Kinds({"client_message"}, "g"), {/*auto_confirm=*/true});
  auto got = awake->WaitFor(1, absl::Seconds(5));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data(), "only");
}

TEST_F(WatchTest, ResumesAfterAnIdAndSaysHowManyWereDropped) {
  StartBroker([](AppOptions& options) { options.broker.watch.retention_count = 100; });
  auto first = Watch(Kinds({"client_message"}));
  for (int i = 0; i < 10; ++i) {
    ASSERT_THAT(app_->broker().ReceiveFromClient("c", "e", std::to_string(i)), IsOk());
  }
  auto got = first->WaitFor(10);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_TRUE(first->Finish().ok());

  // Within retention: exactly what followed.
  for (int i = 10; i < 20; ++i) {
    ASSERT_THAT(app_->broker().ReceiveFromClient("c", "e", std::to_string(i)), IsOk());
  }
  v1::WatchRequest resume = Kinds({"client_message"});
  resume.set_after_id(got.back().id());
  auto second = Watch(resume);
  auto next = second->WaitFor(10);
  if (next.empty()) ADD_FAILURE() << second->AwaitEnd(absl::Seconds(1)).error_message();
  ASSERT_EQ(next.size(), 10u);
  EXPECT_EQ(next[0].data(), "10");
  EXPECT_EQ(next[0].dropped(), 0u);
  EXPECT_TRUE(second->Finish().ok());

  // Too late: 300 more, 100 kept: the first event says 200 were lost.
  for (int i = 20; i < 320; ++i) {
    ASSERT_THAT(app_->broker().ReceiveFromClient("c", "e", std::to_string(i)), IsOk());
  }
  resume.set_after_id(next.back().id());
  auto third = Watch(resume);
  auto late = third->WaitFor(100);
  ASSERT_EQ(late.size(), 100u);
  EXPECT_EQ(late[0].data(), "220");
  EXPECT_EQ(late[0].dropped(), 200u);
  EXPECT_EQ(late[1].dropped(), 0u);
}

TEST_F(WatchTest, BadWatchRequestsGetClearErrors) {
  StartBroker([](AppOptions& options) { options.broker.watch.max_watchers = 1; });
  auto unknown = WatchClient::Open(stub_.get(), Kinds({"online", "teleported"}));
  grpc::Status status = unknown->AwaitEnd();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("teleported"), std::string::npos);

  v1::WatchRequest malformed;
  malformed.set_after_id("yesterday");
  EXPECT_EQ(WatchClient::Open(stub_.get(), malformed)->AwaitEnd().error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  auto first = Watch(Kinds({}));
  auto second = WatchClient::Open(stub_.get(), Kinds({}));
  EXPECT_EQ(second->AwaitEnd().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(WatchTest, AGroupMemberMustAskForWhatItsGroupWatches) {
  StartBroker();
  auto member = Watch(Kinds({"client_message"}, "g"));
  auto other = WatchClient::Open(stub_.get(), Kinds({"online"}, "g"));
  EXPECT_EQ(other->AwaitEnd().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(WatchTest, AWatcherThatDoesNotReadIsCutNotBuffered) {
  StartBroker([](AppOptions& options) { options.broker.watch.queue_bytes = 256 * 1024; });
  auto stalled = Watch(Kinds({"client_message"}), {.auto_confirm = false, .start_reading = false});
  const std::string data(1000, 'x');
  for (int i = 0; i < 3000 && app_->broker().events().watchers_cut() == 0; ++i) {
    ASSERT_THAT(app_->broker().ReceiveFromClient("c", "e", data), IsOk());
  }
  EXPECT_EQ(app_->broker().events().watchers_cut(), 1u);
  grpc::Status status = stalled->AwaitEnd(absl::Seconds(10));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("--watch_queue_bytes"), std::string::npos);
}

class PublishWaitTest : public WatchTest {
 protected:
  grpc::Status PublishWaiting(const std::string& client, v1::Receipt receipt,
                              absl::Duration timeout, v1::PublishResponse* response) {
    v1::PublishRequest request;
    request.set_client_id(client);
    request.set_data("wait for me");
    request.set_wait_for(receipt);
    request.mutable_wait_timeout()->set_seconds(absl::ToInt64Seconds(timeout));
    request.mutable_wait_timeout()->set_nanos(
        static_cast<int32_t>(absl::ToInt64Nanoseconds(timeout % absl::Seconds(1))));
    return Publish(request, response);
  }
};

TEST_F(PublishWaitTest, ReturnsAsSoonAsALateComingPageReceivesTheMessage) {
  StartBroker();
  std::unique_ptr<SseClient> stream;
  std::thread page([&] {
    absl::SleepFor(absl::Milliseconds(400));
    stream = OpenStream("alice");
  });
  const absl::Time start = absl::Now();
  v1::PublishResponse response;
  grpc::Status status = PublishWaiting("alice", v1::RECEIPT_DELIVERED, absl::Seconds(8), &response);
  const absl::Duration took = absl::Now() - start;
  page.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.delivered(), 1u);
  EXPECT_EQ(response.mailboxes(), 1u);
  EXPECT_GE(took, absl::Milliseconds(350));
  EXPECT_LT(took, absl::Seconds(4));
  auto event = stream->Next();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->last_event_id, response.id());
}

TEST_F(PublishWaitTest, TimesOutWithNothingDeliveredAndKeepsTheMessage) {
  StartBroker();
  const absl::Time start = absl::Now();
  v1::PublishResponse response;
  ASSERT_TRUE(
      PublishWaiting("alice", v1::RECEIPT_DELIVERED, absl::Milliseconds(300), &response).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  EXPECT_EQ(response.delivered(), 0u);
  EXPECT_EQ(History("alice").messages_size(), 1);
}

TEST_F(PublishWaitTest, WaitsForTheAckAndNeverBlocksOtherCalls) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  v1::PublishResponse response;
  grpc::Status status;
  std::thread waiting(
      [&] { status = PublishWaiting("alice", v1::RECEIPT_ACKED, absl::Seconds(8), &response); });
  auto event = stream->Next();
  ASSERT_TRUE(event.has_value());
  // Other calls go on meanwhile.
  for (int i = 0; i < 20; ++i) PublishTo("bob", "meanwhile");
  absl::SleepFor(absl::Milliseconds(100));
  auto res =
      Post("/v1/ack?client_id=alice", nlohmann::json({{"ids", {event->last_event_id}}}).dump());
  ASSERT_EQ(res->status, 200);
  waiting.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.delivered(), 1u);
  EXPECT_EQ(response.acked(), 1u);
}

TEST_F(PublishWaitTest, RefusesAWaitPastTheMaximum) {
  StartBroker([](AppOptions& options) { options.broker.max_wait_timeout = absl::Seconds(2); });
  v1::PublishResponse response;
  grpc::Status status = PublishWaiting("alice", v1::RECEIPT_DELIVERED, absl::Seconds(3), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("--max_wait_timeout"), std::string::npos);
  v1::ClientInfo info;
  EXPECT_EQ(GetClient("alice", &info).error_code(),
            grpc::StatusCode::NOT_FOUND);  // nothing appended
}

}  // namespace
}  // namespace pushbroker::testing
