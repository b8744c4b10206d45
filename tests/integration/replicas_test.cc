// Several brokers on one real redis-server, over real gRPC and HTTP: a
// publish through one replica reaches a stream on another; a browser that
// reconnects to any replica with Last-Event-ID gets exactly what it missed;
// replicas can be rolled one by one under traffic with nothing lost,
// duplicated or reset; and while Redis is unreachable streams are asked to
// come back (200 + retry), polls get 503, publishes UNAVAILABLE.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "app/broker_app.h"
#include "broker/message_id.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "pushbroker/v1/broker.grpc.pb.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/broker_replicas.h"
#include "tests/support/child_process.h"
#include "tests/support/redis_server.h"
#include "tests/support/sse_client.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::testing {
namespace {

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<RedisServer> server = RedisServer::Start();
    ASSERT_THAT(server, IsOk());
    redis_ = std::make_unique<RedisServer>(*std::move(server));
  }

  void TearDown() override {
    for (Replica& replica : replicas_) {
      if (replica.app) replica.app->Shutdown();
    }
  }

  Replica StartReplica(const std::string& name, absl::Duration io_timeout = absl::Seconds(3)) {
    return testing::StartReplica(redis_->address(), name, io_timeout);
  }

  static grpc::Status Publish(Replica& via, const std::string& client, const std::string& data,
                              v1::PublishResponse* response, const std::string& key = "") {
    return PublishVia(via, client, data, response, key);
  }

  static std::unique_ptr<SseClient> Stream(Replica& at, const std::string& client,
                                           const std::string& last_event_id) {
    return StreamAt(at, client, last_event_id);
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<Replica> replicas_;
};

TEST_F(ReplicasTest, APublishThroughOneReplicaReachesAStreamOnAnother) {
  replicas_.push_back(StartReplica("a"));
  replicas_.push_back(StartReplica("b"));
  auto stream = Stream(replicas_[1], "alice", "");
  ASSERT_NE(stream, nullptr);
  ASSERT_EQ(stream->status(), 200);
  v1::PublishResponse response;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  do {  // the stream registers just after its headers
    ASSERT_TRUE(Publish(replicas_[0], "alice", "warm-up", &response).ok());
  } while (response.streams() == 0 && absl::Now() < deadline);
  ASSERT_EQ(response.streams(), 1u);
  ASSERT_TRUE(Publish(replicas_[0], "alice", "across", &response).ok());
  std::optional<SseEvent> event;
  do {
    event = stream->Next(absl::Seconds(2));
  } while (event.has_value() && event->data == "warm-up");
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data, "across");
  EXPECT_EQ(event->last_event_id, response.id());
}

// Publishes go round-robin through three replicas while the browser
// reconnects round-robin every 25 messages with Last-Event-ID.
TEST_F(ReplicasTest, ReconnectsRoundRobinWithLastEventIdMissNothingAndRepeatNothing) {
  for (const char* name : {"a", "b", "c"}) replicas_.push_back(StartReplica(name));
  constexpr int kMessages = 600;
  Browser browser;
  std::unique_ptr<SseClient> stream;
  int published = 0;
  for (int round = 0; published < kMessages; ++round) {
    stream = Stream(replicas_[round % 3], "alice", browser.last_event_id);
    ASSERT_NE(stream, nullptr);
    ASSERT_EQ(stream->status(), 200);
    for (int i = 0; i < 25 && published < kMessages; ++i, ++published) {
      v1::PublishResponse response;
      ASSERT_TRUE(
          Publish(replicas_[published % 3], "alice", std::to_string(published), &response).ok());
    }
    // Read part of what was published; the rest waits for the next replica.
    for (const SseEvent& event : stream->Take(10, absl::Seconds(5))) browser.Take(event);
  }
  stream = Stream(replicas_[0], "alice", browser.last_event_id);
  while (browser.data.size() < kMessages) {
    std::optional<SseEvent> event = stream->Next(absl::Seconds(5));
    if (!event.has_value()) break;
    browser.Take(*event);
  }
  EXPECT_EQ(browser.failure, "");
  EXPECT_EQ(browser.resets, 0);
  ASSERT_EQ(browser.data.size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) ASSERT_EQ(browser.data[i], std::to_string(i));
}

TEST_F(ReplicasTest, RollingEveryReplicaUnderTrafficLosesNothingAndResetsNoOne) {
  for (const char* name : {"a", "b", "c"}) replicas_.push_back(StartReplica(name));
  Browser browser;
  int published = 0;
  for (int roll = 0; roll < 3; ++roll) {
    auto stream = Stream(replicas_[roll], "alice", browser.last_event_id);
    ASSERT_NE(stream, nullptr);
    for (int i = 0; i < 30; ++i, ++published) {
      v1::PublishResponse response;
      ASSERT_TRUE(
          Publish(replicas_[(roll + 1) % 3], "alice", std::to_string(published), &response).ok());
    }
    for (const SseEvent& event : stream->Take(15, absl::Seconds(5))) browser.Take(event);
    // The replica holding the stream drains (SIGTERM) and a new one takes
    // its place under a new id, as a RollingUpdate does.
    replicas_[roll].app->Shutdown();
    EXPECT_TRUE(stream->WaitForEnd(absl::Seconds(5)));
    replicas_[roll] = StartReplica(absl::StrCat("rolled-", roll));
  }
  auto stream = Stream(replicas_[0], "alice", browser.last_event_id);
  while (browser.data.size() < static_cast<size_t>(published)) {
    std::optional<SseEvent> event = stream->Next(absl::Seconds(5));
    if (!event.has_value()) break;
    browser.Take(*event);
  }
  EXPECT_EQ(browser.failure, "");
  EXPECT_EQ(browser.resets, 0);
  ASSERT_EQ(browser.data.size(), static_cast<size_t>(published));
  for (int i = 0; i < published; ++i) ASSERT_EQ(browser.data[i], std::to_string(i));
}

TEST_F(ReplicasTest, WhileRedisIsUnreachableStreamsComeBackLaterAndPublishesSayWhy) {
  replicas_.push_back(StartReplica("a", absl::Milliseconds(500)));
  v1::PublishResponse response;
  ASSERT_TRUE(Publish(replicas_[0], "alice", "before", &response).ok());
  const std::string before = response.id();
  redis_->Kill();

  const grpc::Status refused = Publish(replicas_[0], "alice", "during", &response, "key-1");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  auto stream = Stream(replicas_[0], "alice", before);
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->status(), 200) << "any other status stops an EventSource for good";
  EXPECT_TRUE(stream->WaitForEnd(absl::Seconds(5)));
  EXPECT_GE(stream->parser().retry_ms(), 3000u);
  EXPECT_LE(stream->parser().retry_ms(), 10000u);
  httplib::Client http("127.0.0.1", replicas_[0].app->http_port());
  auto poll = http.Get("/v1/poll?client_id=alice&timeout_ms=0");
  ASSERT_TRUE(poll);
  EXPECT_EQ(poll->status, 503);
  EXPECT_FALSE(poll->get_header_value("Retry-After").empty());

  // A new Redis process (its data gone with the old one): the broker
  // reconnects by itself, and the browser's old id yields a reset, never a
  // silent gap.
  ASSERT_THAT(redis_->Restart(), IsOk());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  grpc::Status again;
  do {
    absl::SleepFor(absl::Milliseconds(100));
    again = Publish(replicas_[0], "alice", "after", &response, "key-1");
  } while (!again.ok() && absl::Now() < deadline);
  ASSERT_TRUE(again.ok()) << again.error_message();
  // As EventSource does, come back until the stream opens (the live feed
  // resubscribes in the background).
  std::vector<SseEvent> events;
  while (events.empty() && absl::Now() < deadline + absl::Seconds(5)) {
    auto resumed = Stream(replicas_[0], "alice", before);
    ASSERT_NE(resumed, nullptr);
    events = resumed->Take(2, absl::Seconds(1));
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "reset");
  EXPECT_EQ(events[1].data, "after");
}

// A broker process killed with SIGKILL while it holds streams: the
// browsers move to another replica and miss nothing; presence turns
// offline once the dead replica's lease (15 s) ends.
TEST_F(ReplicasTest, ABrokerKilledWithItsStreamsLosesNothingAndGoesOfflineWithinItsLease) {
  replicas_.push_back(StartReplica("survivor"));
  ChildProcess doomed =
      ChildProcess::Spawn({PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0",
                           "--http_port=0", "--admin_port=0", "--store=redis",
                           "--redis_addrs=" + redis_->address(), "--replica_id=doomed"});
  BrokerPorts ports;
  ASSERT_TRUE(WaitForBrokerPorts(doomed, &ports)) << doomed.stderr_text;
  constexpr int kClients = 20;
  std::vector<Browser> browsers(kClients);
  std::vector<std::unique_ptr<SseClient>> streams;
  for (int c = 0; c < kClients; ++c) {
    streams.push_back(SseClient::Open(ports.http, absl::StrCat("/v1/events?client_id=k", c), {}));
    ASSERT_NE(streams.back(), nullptr);
    ASSERT_EQ(streams.back()->status(), 200);
    // The priming id: the browser's position before any message.
    ASSERT_FALSE(streams.back()->Next(absl::Milliseconds(100)).has_value());
    browsers[c].last_event_id = streams.back()->parser().last_event_id();
  }
  for (int m = 0; m < 5; ++m) {
    for (int c = 0; c < kClients; ++c) {
      v1::PublishResponse response;
      ASSERT_TRUE(Publish(replicas_[0], absl::StrCat("k", c), std::to_string(m), &response).ok());
    }
  }
  for (int c = 0; c < kClients; ++c) {
    for (const SseEvent& event : streams[c]->Take(2)) browsers[c].Take(event);
  }
  ::kill(doomed.pid, SIGKILL);
  doomed.Wait(absl::Seconds(5));
  absl::StatusOr<ClientState> state = replicas_[0].app->broker().GetClient("k0");
  ASSERT_THAT(state, IsOk());
  EXPECT_TRUE(state->online) << "the dead replica's lease still holds";
  for (int c = 0; c < kClients; ++c) {
    v1::PublishResponse response;
    ASSERT_TRUE(Publish(replicas_[0], absl::StrCat("k", c), "5", &response).ok());
    auto moved = Stream(replicas_[0], absl::StrCat("k", c), browsers[c].last_event_id);
    ASSERT_NE(moved, nullptr);
    while (browsers[c].data.size() < 6) {
      std::optional<SseEvent> event = moved->Next(absl::Seconds(5));
      if (!event.has_value()) break;
      browsers[c].Take(*event);
    }
    EXPECT_EQ(browsers[c].failure, "") << c;
    EXPECT_EQ(browsers[c].resets, 0) << c;
    EXPECT_THAT(browsers[c].data, ::testing::ElementsAre("0", "1", "2", "3", "4", "5")) << c;
  }
  streams.clear();
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    absl::SleepFor(absl::Milliseconds(500));
    state = replicas_[0].app->broker().GetClient("k1");
  } while (state.ok() && state->online && absl::Now() < deadline);
  ASSERT_THAT(state, IsOk());
  EXPECT_FALSE(state->online) << "the lease of a dead replica ends within 15 s";
}

// The lost-write recipe: Redis acknowledges two messages, then comes back
// from a snapshot taken before them (as a failover or a restart can). The
// next message takes a new epoch, and a browser that held the lost ids is
// told so: a reset, never a silent gap or a reused id.
TEST_F(ReplicasTest, WritesLostByRedisBecomeAResetNeverASilentGap) {
  replicas_.push_back(StartReplica("a", absl::Milliseconds(500)));
  std::vector<std::string> ids;
  for (int m = 0; m < 5; ++m) {
    v1::PublishResponse response;
    ASSERT_TRUE(Publish(replicas_[0], "alice", std::to_string(m), &response).ok());
    ids.push_back(response.id());
    if (m == 2) {
      absl::StatusOr<std::unique_ptr<redis::RedisClient>> cli =
          redis::RedisClient::Start(redis::ConnectionTo(redis_->address()));
      ASSERT_THAT(cli, IsOk());
      ASSERT_THAT((*cli)->Call({"SAVE"}), IsOk());  // the snapshot holds messages 0-2
    }
  }
  redis_->Kill();
  ASSERT_THAT(redis_->Restart(), IsOk());  // loads the snapshot: 3 and 4 are lost
  ExpectLostWritesReset(replicas_[0], "alice", ids, absl::Seconds(10));
}

}  // namespace
}  // namespace pushbroker::testing
