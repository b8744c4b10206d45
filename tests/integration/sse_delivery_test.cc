// The browser's side of the contract, over real HTTP: offline and live
// delivery, exact replay after Last-Event-ID, resets, tabs, Disconnect,
// heartbeats, and more streams than cpp-httplib's default pool.
#include <string>
#include <vector>

#include "broker/message_id.h"
#include "tests/support/broker_fixture.h"

namespace pushbroker::testing {
namespace {

class SseDeliveryTest : public BrokerFixture {};

std::vector<std::string> DataOf(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  for (const SseEvent& event : events) out.push_back(event.data);
  return out;
}

TEST_F(SseDeliveryTest, OfflineMessagesWaitInTheMailboxAndArriveOnConnect) {
  StartBroker();
  const std::string first = PublishTo("alice", "while you were away");
  PublishTo("alice", "second\nwith two lines", "note");

  auto stream = OpenStream("alice");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->status(), 200);
  EXPECT_EQ(stream->header("content-type"), "text/event-stream");
  EXPECT_EQ(stream->header("cache-control"), "no-cache");
  EXPECT_EQ(stream->header("x-accel-buffering"), "no");
  EXPECT_TRUE(stream->header("content-encoding").empty());

  auto events = stream->Take(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "while you were away");
  EXPECT_EQ(events[0].last_event_id, first);
  EXPECT_EQ(events[0].type, "message");
  EXPECT_EQ(events[1].data, "second\nwith two lines");
  EXPECT_EQ(events[1].type, "note");
  EXPECT_EQ(stream->parser().retry_ms(), 1500u);
}

TEST_F(SseDeliveryTest, LiveMessageArrivesOnAnOpenStream) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  const std::string data = "live \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80";
  v1::PublishResponse response = PublishToClient("alice", data);
  EXPECT_EQ(response.streams(), 1u);
  EXPECT_EQ(response.mailboxes(), 1u);
  auto event = stream->Next(absl::Seconds(2));
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data, data);
  EXPECT_EQ(event->last_event_id, response.id());
}

TEST_F(SseDeliveryTest, ReconnectWithLastEventIdReplaysExactlyWhatWasMissedInOrder) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  for (int i = 1; i <= 3; ++i) PublishTo("alice", "m" + std::to_string(i));
  auto seen = stream->Take(3);
  ASSERT_EQ(seen.size(), 3u);
  const std::string last_seen = stream->parser().last_event_id();
  stream.reset();  // the connection drops
  ASSERT_TRUE(WaitForStreams("alice", 0));

  for (int i = 4; i <= 6; ++i) PublishTo("alice", "m" + std::to_string(i));
  auto again = OpenStream("alice", {{"Last-Event-ID", last_seen}});
  auto replay = again->Take(3);
  EXPECT_EQ(DataOf(replay), (std::vector<std::string>{"m4", "m5", "m6"}));
  PublishTo("alice", "m7");
  auto live = again->Next();
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(live->data, "m7");
  EXPECT_FALSE(again->Next(absl::Milliseconds(300)).has_value());  // no duplicate follows
}

TEST_F(SseDeliveryTest, LastEventIdQueryParameterWorksForAPagesFirstConnect) {
  StartBroker();
  const std::string first = PublishTo("alice", "a");
  PublishTo("alice", "b");
  auto stream = OpenStream("alice", {}, "&last_event_id=" + first);
  EXPECT_EQ(DataOf(stream->Take(1)), (std::vector<std::string>{"b"}));
}

TEST_F(SseDeliveryTest, ForeignMalformedAheadAndEvictedIdsStartWithAReset) {
  StartBroker([](AppOptions& options) { options.retention.max_messages = 3; });
  std::vector<std::string> ids;
  for (int i = 1; i <= 5; ++i) ids.push_back(PublishTo("alice", "m" + std::to_string(i)));
  const auto epoch = MessageId::Parse(ids[0])->epoch;

  struct Case {
    std::string last_event_id;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"1234abc-3", "foreign_epoch"},
      {"not an id", "malformed_id"},
      {MessageId{epoch, 99}.ToString(), "ahead_of_mailbox"},
      {ids[0], "messages_evicted"},  // m2 is gone
  };
  for (const Case& c : cases) {
    auto stream = OpenStream("alice", {{"Last-Event-ID", c.last_event_id}});
    ASSERT_NE(stream, nullptr);
    EXPECT_EQ(stream->status(), 200) << c.last_event_id;
    auto events = stream->Take(4);
    ASSERT_EQ(events.size(), 4u) << c.last_event_id;
    EXPECT_EQ(events[0].type, "reset");
    EXPECT_NE(events[0].data.find("\"reason\":\"" + c.reason + "\""), std::string::npos)
        << events[0].data;
    EXPECT_NE(events[0].data.find("\"earliest_id\":\"" + ids[2] + "\""), std::string::npos);
    EXPECT_EQ(DataOf({events[1], events[2], events[3]}),
              (std::vector<std::string>{"m3", "m4", "m5"}));
  }
  // m2's own id being gone is fine: the id right before the retained ones continues exactly.
  auto exact = OpenStream("alice", {{"Last-Event-ID", ids[1]}});
  auto events = exact->Take(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "m3");
}

TEST_F(SseDeliveryTest, AfterAResetTheStreamsIdContinuesWithoutAnotherReset) {
  StartBroker();
  PublishTo("alice", "m1");
  auto stream = OpenStream("alice", {{"Last-Event-ID", "ffff-1"}});
  auto events = stream->Take(2);
  ASSERT_EQ(events.size(), 2u);
  ASSERT_EQ(events[0].type, "reset");
  // Dropping right after the reset event: its id resumes with m1, not a reset.
  auto again = OpenStream("alice", {{"Last-Event-ID", events[0].last_event_id}});
  auto resumed = again->Take(1);
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_EQ(resumed[0].type, "message");
  EXPECT_EQ(resumed[0].data, "m1");
}

TEST_F(SseDeliveryTest, EveryTabOfAClientReceivesEveryMessage) {
  StartBroker();
  auto tab1 = OpenStream("alice");
  auto tab2 = OpenStream("alice");
  auto tab3 = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 3));
  EXPECT_EQ(PublishToClient("alice", "to all tabs").streams(), 3u);
  for (auto* tab : {tab1.get(), tab2.get(), tab3.get()}) {
    auto event = tab->Next();
    ASSERT_TRUE(event.has_value());
    EXPECT_EQ(event->data, "to all tabs");
  }
}

TEST_F(SseDeliveryTest, DisconnectAdvisesRetryAndClosesTheStream) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  grpc::ClientContext context;
  v1::DisconnectRequest request;
  request.set_client_id("alice");
  request.set_retry_ms(4321);
  v1::DisconnectResponse response;
  ASSERT_TRUE(stub_->Disconnect(&context, request, &response).ok());
  EXPECT_EQ(response.streams(), 1u);
  EXPECT_TRUE(stream->WaitForEnd());
  EXPECT_TRUE(stream->ended());  // a proper last chunk, not a reset connection
  EXPECT_EQ(stream->parser().retry_ms(), 4321u);
  EXPECT_TRUE(WaitForStreams("alice", 0));
  v1::ClientInfo info;
  ASSERT_TRUE(GetClient("alice", &info).ok());
  EXPECT_FALSE(info.online());
  EXPECT_GT(info.last_seen().seconds(), 0);
}

TEST_F(SseDeliveryTest, DeleteClientEndsItsStreams) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  grpc::ClientContext context;
  v1::DeleteClientRequest request;
  request.set_client_id("alice");
  v1::DeleteClientResponse response;
  ASSERT_TRUE(stub_->DeleteClient(&context, request, &response).ok());
  EXPECT_TRUE(stream->WaitForEnd());
  v1::ClientInfo info;
  EXPECT_EQ(GetClient("alice", &info).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(SseDeliveryTest, HeartbeatsKeepTheStreamAwake) {
  StartBroker(
      [](AppOptions& options) { options.http.heartbeat_interval = absl::Milliseconds(100); });
  auto stream = OpenStream("alice");
  EXPECT_FALSE(stream->Next(absl::Milliseconds(700)).has_value());
  EXPECT_GE(stream->parser().comments(), 3u);
}

TEST_F(SseDeliveryTest, ADeadPeersStreamIsRemovedPromptly) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  stream->CloseSocket();
  EXPECT_TRUE(WaitForStreams("alice", 0, absl::Seconds(2)));
  EXPECT_EQ(app_->http_edge().open_streams(), 0u);
}

TEST_F(SseDeliveryTest, HoldsFarMoreStreamsThanTheDefaultPoolAndStillAnswers) {
  StartBroker();
  constexpr int kStreams = 200;  // cpp-httplib's default pool serves 8
  std::vector<std::unique_ptr<SseClient>> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(OpenStream("user" + std::to_string(i)));
    ASSERT_NE(streams.back(), nullptr) << i;
    ASSERT_EQ(streams.back()->status(), 200);
  }
  // An ordinary request is still answered at once.
  auto plain = SseClient::Open(app_->http_port(), "/v1/events", {}, absl::Seconds(2));
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->status(), 400);

  v1::PublishRequest request;
  request.set_broadcast(true);
  request.set_data("to everyone");
  v1::PublishResponse response;
  ASSERT_TRUE(Publish(request, &response).ok());
  EXPECT_EQ(response.mailboxes(), static_cast<uint32_t>(kStreams));
  int received = 0;
  for (auto& stream : streams) {
    auto event = stream->Next();
    if (event && event->data == "to everyone") ++received;
  }
  EXPECT_EQ(received, kStreams);
  EXPECT_EQ(app_->http_edge().open_streams(), static_cast<size_t>(kStreams));
}

TEST_F(SseDeliveryTest, ShutdownEndsStreamsWithJitteredRetryAdvice) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  app_->Shutdown();
  EXPECT_TRUE(stream->WaitForEnd());
  ASSERT_TRUE(stream->parser().retry_ms().has_value());
  EXPECT_GE(*stream->parser().retry_ms(), 1500u);  // --retry_ms plus up to as much again
  EXPECT_LE(*stream->parser().retry_ms(), 3000u);
}

}  // namespace
}  // namespace pushbroker::testing
