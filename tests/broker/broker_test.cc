#include "broker/broker.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "broker/memory_mailbox_store.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

// Records what the broker hands to a stream.
class RecordingSink final : public StreamSink {
 public:
  void Deliver(const Message& message, FanoutBatch&) override {
    absl::MutexLock lock(&mu_);
    delivered_.push_back(message.payload->data);
  }
  const char* transport() const override { return "sse"; }
  void Close(CloseCause cause, uint32_t retry_ms) override {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    retry_ms_ = retry_ms;
  }
  std::vector<std::string> delivered() {
    absl::MutexLock lock(&mu_);
    return delivered_;
  }
  bool closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }
  uint32_t retry_ms() {
    absl::MutexLock lock(&mu_);
    return retry_ms_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> delivered_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t retry_ms_ ABSL_GUARDED_BY(mu_) = 0;
};

PublishRequest ToClient(const std::string& client, const std::string& data) {
  PublishRequest request;
  request.target.kind = PublishTarget::Kind::kClient;
  request.target.client_id = client;
  request.data = data;
  return request;
}

class BrokerTest : public ::testing::Test {
 protected:
  BrokerTest()
      : store_(RetentionPolicy{100, absl::Hours(24)}), broker_(BrokerOptions{}, &store_, &clock_) {}

  std::vector<std::string> HistoryData(const std::string& client) {
    auto page = broker_.History(client, "", 0);
    EXPECT_THAT(page, IsOk());
    std::vector<std::string> out;
    for (const Message& m : page->messages) out.push_back(m.payload->data);
    return out;
  }

  ManualClock clock_;
  MemoryMailboxStore store_;
  Broker broker_;
};

TEST_F(BrokerTest, PublishToOneClientReturnsItsId) {
  auto result = broker_.Publish(ToClient("alice", "hi"));
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->mailboxes, 1u);
  EXPECT_EQ(result->streams, 0u);
  auto id = MessageId::Parse(result->id);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->offset, 1u);
}

TEST_F(BrokerTest, ListPublishDeduplicatesAndReturnsEachId) {
  PublishRequest request;
  request.target.kind = PublishTarget::Kind::kClients;
  request.target.client_ids = {"a", "b", "a"};
  request.data = "x";
  request.return_ids = true;
  auto result = broker_.Publish(request);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->mailboxes, 2u);
  ASSERT_EQ(result->recipients.size(), 2u);
  EXPECT_EQ(result->recipients[0].first, "a");
  EXPECT_TRUE(MessageId::Parse(result->recipients[1].second).has_value());
}

TEST_F(BrokerTest, TopicAndBroadcastReachTheRightMailboxes) {
  ASSERT_TRUE(broker_.Subscribe("alice", "room").ok());
  ASSERT_TRUE(broker_.Subscribe("bob", "room").ok());
  ASSERT_TRUE(broker_.Publish(ToClient("carol", "c")).ok());

  PublishRequest topic;
  topic.target.kind = PublishTarget::Kind::kTopic;
  topic.target.topic = "room";
  topic.data = "to room";
  EXPECT_EQ(broker_.Publish(topic)->mailboxes, 2u);

  PublishRequest everyone;
  everyone.target.kind = PublishTarget::Kind::kBroadcast;
  everyone.data = "to all";
  EXPECT_EQ(broker_.Publish(everyone)->mailboxes, 3u);

  EXPECT_EQ(HistoryData("alice"), (std::vector<std::string>{"to room", "to all"}));
  EXPECT_EQ(HistoryData("carol"), (std::vector<std::string>{"c", "to all"}));
}

TEST_F(BrokerTest, RejectedPublishesChangeNothing) {
  ASSERT_TRUE(broker_.Publish(ToClient("alice", "kept")).ok());
  PublishRequest bad_event = ToClient("alice", "x");
  bad_event.event = "evil\nid: 99";
  PublishRequest bad_utf8 = ToClient("alice", "\xff\xfe");
  PublishRequest too_big = ToClient("alice", std::string(64 * 1024 + 1, 'x'));
  PublishRequest no_target;
  no_target.data = "x";
  PublishRequest bad_client = ToClient("", "x");
  PublishRequest bad_ttl = ToClient("alice", "x");
  bad_ttl.ttl = absl::Seconds(-1);
  for (const PublishRequest& request :
       {bad_event, bad_utf8, too_big, no_target, bad_client, bad_ttl}) {
    EXPECT_THAT(broker_.Publish(request), StatusIs(absl::StatusCode::kInvalidArgument));
  }
  EXPECT_EQ(HistoryData("alice"), (std::vector<std::string>{"kept"}));
}

TEST_F(BrokerTest, IdempotencyKeyAppendsOnceAndAnswersTheSame) {
  PublishRequest request = ToClient("alice", "once");
  request.idempotency_key = "order-17";
  auto first = broker_.Publish(request);
  auto second = broker_.Publish(request);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(first->id, second->id);
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(HistoryData("alice").size(), 1u);

  clock_.Advance(absl::Minutes(11));  // past the window: a new publish
  auto third = broker_.Publish(request);
  EXPECT_NE(third->id, first->id);
  EXPECT_EQ(HistoryData("alice").size(), 2u);
}

TEST_F(BrokerTest, ConcurrentRetriesWithOneKeyAppendOnce) {
  PublishRequest request = ToClient("alice", "once");
  request.idempotency_key = "race";
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] { ok += broker_.Publish(request).ok() ? 1 : 0; });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(HistoryData("alice").size(), 1u);
}

TEST_F(BrokerTest, OpenStreamReplaysUndeliveredThenGoesLive) {
  ASSERT_TRUE(broker_.Publish(ToClient("alice", "offline")).ok());
  auto sink = std::make_shared<RecordingSink>();
  auto opened = broker_.OpenStream("alice", std::nullopt, sink);
  ASSERT_THAT(opened, IsOk());
  ASSERT_EQ(opened->replay.size(), 1u);
  EXPECT_EQ(opened->replay[0].payload->data, "offline");

  auto live = broker_.Publish(ToClient("alice", "live"));
  EXPECT_EQ(live->streams, 1u);
  EXPECT_EQ(sink->delivered(), (std::vector<std::string>{"live"}));

  // Handing is not delivering: until the first tab's bytes are confirmed, a
  // second tab without Last-Event-ID gets both again.
  auto tab2 = std::make_shared<RecordingSink>();
  EXPECT_EQ(broker_.OpenStream("alice", std::nullopt, tab2)->replay.size(), 2u);
  // Once they are, it gets nothing old.
  broker_.ConfirmDelivered("alice", *MessageId::Parse(live->id));
  auto tab3 = std::make_shared<RecordingSink>();
  EXPECT_TRUE(broker_.OpenStream("alice", std::nullopt, tab3)->replay.empty());
  EXPECT_EQ(broker_.Publish(ToClient("alice", "all"))->streams, 3u);
  EXPECT_EQ(broker_.GetClient("alice")->streams, 3u);
}

TEST_F(BrokerTest, AnIdSentBackConfirmsEverythingThroughIt) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(broker_.Publish(ToClient("alice", std::to_string(i)))->id);
  // The first connection was handed all three and broke before reading.
  auto lost = std::make_shared<RecordingSink>();
  ASSERT_EQ(broker_.OpenStream("alice", std::nullopt, lost)->replay.size(), 3u);
  broker_.UnregisterStream("alice", lost.get());
  // Without an id, nothing was confirmed: all three again.
  auto again = std::make_shared<RecordingSink>();
  ASSERT_EQ(broker_.OpenStream("alice", std::nullopt, again)->replay.size(), 3u);
  broker_.UnregisterStream("alice", again.get());
  // A reconnect with the second id confirms the first two.
  auto resumed = std::make_shared<RecordingSink>();
  ASSERT_EQ(broker_.OpenStream("alice", ids[1], resumed)->replay.size(), 1u);
  broker_.UnregisterStream("alice", resumed.get());
  auto fresh = std::make_shared<RecordingSink>();
  auto opened = broker_.OpenStream("alice", std::nullopt, fresh);
  ASSERT_EQ(opened->replay.size(), 1u);
  EXPECT_EQ(opened->replay[0].payload->data, "2");
  // An id of another epoch confirms nothing.
  broker_.ConfirmDelivered("alice", MessageId{opened->position.epoch + 1, 3});
  EXPECT_EQ(
      broker_.OpenStream("alice", std::nullopt, std::make_shared<RecordingSink>())->replay.size(),
      1u);
}

TEST_F(BrokerTest, OpenStreamWithLastEventIdReplaysExactly) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(broker_.Publish(ToClient("alice", std::to_string(i)))->id);
  auto opened = broker_.OpenStream("alice", ids[2], std::make_shared<RecordingSink>());
  ASSERT_THAT(opened, IsOk());
  EXPECT_FALSE(opened->reset.has_value());
  ASSERT_EQ(opened->replay.size(), 2u);
  EXPECT_EQ(opened->replay[0].payload->data, "3");

  auto foreign =
      broker_.OpenStream("alice", std::string("abc-1"), std::make_shared<RecordingSink>());
  EXPECT_EQ(foreign->reset, ResetReason::kForeignEpoch);
  EXPECT_EQ(foreign->replay.size(), 5u);
}

TEST_F(BrokerTest, DisconnectAndDeleteCloseStreams) {
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker_.OpenStream("alice", std::nullopt, sink).ok());
  EXPECT_EQ(*broker_.Disconnect("alice", 7000), 1u);
  EXPECT_TRUE(sink->closed());
  EXPECT_EQ(sink->retry_ms(), 7000u);
  EXPECT_THAT(broker_.Disconnect("nobody", 1), StatusIs(absl::StatusCode::kNotFound));

  auto other = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker_.OpenStream("bob", std::nullopt, other).ok());
  ASSERT_TRUE(broker_.DeleteClient("bob").ok());
  EXPECT_TRUE(other->closed());
  EXPECT_THAT(broker_.GetClient("bob"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(broker_.DeleteClient("bob"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(BrokerTest, PresenceAndLastSeen) {
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker_.OpenStream("alice", std::nullopt, sink).ok());
  EXPECT_TRUE(broker_.GetClient("alice")->online);
  clock_.Advance(absl::Seconds(5));
  broker_.UnregisterStream("alice", sink.get());
  auto state = broker_.GetClient("alice");
  EXPECT_FALSE(state->online);
  EXPECT_EQ(state->last_seen, clock_.Now());
}

TEST_F(BrokerTest, SweepDropsIdleMailboxesButNotOnlineOnes) {
  ASSERT_TRUE(broker_.Publish(ToClient("idle", "x")).ok());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker_.OpenStream("online", std::nullopt, sink).ok());
  clock_.Advance(absl::Hours(25));
  EXPECT_EQ(broker_.Sweep(), 1u);
  EXPECT_THAT(broker_.GetClient("idle"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(broker_.GetClient("online").ok());
}

TEST_F(BrokerTest, PresenceStateGoesWithTheMailbox) {
  for (int i = 0; i < 1000; ++i) {
    const std::string client = "visitor-" + std::to_string(i);
    auto sink = std::make_shared<RecordingSink>();
    ASSERT_TRUE(broker_.OpenStream(client, std::nullopt, sink).ok());
    broker_.UnregisterStream(client, sink.get());
  }
  EXPECT_EQ(broker_.TrackedClients(), 1000u);
  clock_.Advance(absl::Hours(25));
  EXPECT_EQ(broker_.Sweep(), 1000u);
  EXPECT_EQ(broker_.TrackedClients(), 0u);
}

TEST(BrokerLimitsTest, StreamsRefusedAtTheMailboxLimitLeaveNothingBehind) {
  ManualClock clock(absl::FromUnixSeconds(1700000000));
  MemoryMailboxStore store(RetentionPolicy{}, StoreLimits{/*max_mailboxes=*/1});
  Broker broker(BrokerOptions{}, &store, &clock);
  ASSERT_TRUE(broker.OpenStream("first", std::nullopt, std::make_shared<RecordingSink>()).ok());
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(broker
                  .OpenStream("refused-" + std::to_string(i), std::nullopt,
                              std::make_shared<RecordingSink>())
                  .status()
                  .code(),
              absl::StatusCode::kResourceExhausted);
  }
  EXPECT_EQ(broker.TrackedClients(), 1u);
}

TEST_F(BrokerTest, HistoryRejectsMalformedAfterId) {
  ASSERT_TRUE(broker_.Publish(ToClient("alice", "x")).ok());
  EXPECT_EQ(broker_.History("alice", "nonsense", 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(broker_.History("nobody", "", 0), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace pushbroker
