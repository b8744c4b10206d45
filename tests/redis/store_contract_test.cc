// The store contract: the same cases, through the broker core, against the
// memory store and the Redis store (a real redis-server, and a real
// 3-master Redis Cluster). Ids, the replay
// rule's four resets, trims by count, bytes and age, idempotency, topics,
// broadcast, presence, delete, and live delivery to a registered stream.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "broker/broker.h"
#include "broker/memory_mailbox_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "redis/redis_mailbox_store.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/redis_server.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::RedisCluster;
using ::pushbroker::testing::RedisServer;
using ::pushbroker::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Records what reaches one stream, in order.
class RecordingSink final : public StreamSink {
 public:
  void Deliver(const Message& message, FanoutBatch&) override {
    absl::MutexLock lock(&mu_);
    ids_.push_back(message.id.ToString());
    data_.push_back(message.payload->data);
  }
  const char* transport() const override { return "sse"; }
  void Close(CloseCause cause, uint32_t) override {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    cause_ = cause;
  }
  // Waits (up to 5 s) for `n` messages; returns their data.
  std::vector<std::string> AwaitData(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return data_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(5));
    return data_;
  }
  std::vector<std::string> ids() {
    absl::MutexLock lock(&mu_);
    return ids_;
  }
  // Waits (up to 5 s) for Close; returns whether it came.
  bool AwaitClosed(CloseCause* cause = nullptr) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&closed_), absl::Seconds(5));
    if (cause != nullptr) *cause = cause_;
    return closed_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> data_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  CloseCause cause_ ABSL_GUARDED_BY(mu_) = CloseCause::kShutdown;
};

PublishRequest To(const std::string& client, const std::string& data, const std::string& key = "") {
  PublishRequest request;
  request.target.kind = PublishTarget::Kind::kClient;
  request.target.client_id = client;
  request.data = data;
  request.idempotency_key = key;
  return request;
}

PublishRequest ToTopic(const std::string& topic, const std::string& data) {
  PublishRequest request;
  request.target.kind = PublishTarget::Kind::kTopic;
  request.target.topic = topic;
  request.data = data;
  return request;
}

// One broker process over the store under test.
struct Replica {
  std::unique_ptr<MailboxStore> store;
  std::unique_ptr<Broker> broker;
};

class StoreContractTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    retention_.max_messages = 5;
    retention_.max_bytes = 5 * 1024;
    limits_.max_topics_per_client = 2;
    if (GetParam() == "redis") {
      absl::StatusOr<RedisServer> server = RedisServer::Start();
      ASSERT_THAT(server, IsOk());
      server_ = std::make_unique<RedisServer>(*std::move(server));
    }
    if (GetParam() == "cluster") {
      absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Start();
      ASSERT_THAT(cluster, IsOk());
      cluster_ = *std::move(cluster);
    }
    a_ = NewReplica("a");
  }

  bool redis() const { return GetParam() != "memory"; }

  Replica NewReplica(const std::string& name) {
    Replica replica;
    if (redis()) {
      redis::RedisStoreOptions options;
      options.address = cluster_ != nullptr ? cluster_->seeds() : server_->address();
      options.replica_id = name;
      options.clock = &clock_;
      auto store = redis::RedisMailboxStore::Start(options, retention_, limits_);
      EXPECT_THAT(store, IsOk());
      if (!store.ok()) return replica;
      const absl::Time deadline = absl::Now() + absl::Seconds(10);
      while (!(*store)->up() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
      EXPECT_TRUE((*store)->up());
      replica.store = *std::move(store);
    } else {
      replica.store = std::make_unique<MemoryMailboxStore>(retention_, limits_);
    }
    replica.broker = std::make_unique<Broker>(BrokerOptions{}, replica.store.get(), &clock_);
    return replica;
  }

  std::string Publish(Replica& replica, PublishRequest request) {
    absl::StatusOr<PublishResult> result = replica.broker->Publish(std::move(request));
    EXPECT_THAT(result, IsOk());
    return result.ok() ? result->id : "";
  }

  std::vector<std::string> HistoryData(const std::string& client, const std::string& after = "") {
    absl::StatusOr<HistoryPage> page = a_.broker->History(client, after, 0);
    EXPECT_THAT(page, IsOk());
    std::vector<std::string> data;
    if (page.ok()) {
      for (const Message& message : page->messages) data.push_back(message.payload->data);
    }
    return data;
  }

  RetentionPolicy retention_;
  StoreLimits limits_;
  ManualClock clock_{absl::FromUnixMillis(absl::ToUnixMillis(absl::Now()))};  // whole ms
  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisCluster> cluster_;
  Replica a_;
};

TEST_P(StoreContractTest, IdsGrowByOneAndReplayContinuesExactlyAfterAnId) {
  const std::string first = Publish(a_, To("alice", "m1"));
  const std::optional<MessageId> id = MessageId::Parse(first);
  ASSERT_TRUE(id.has_value()) << first;
  EXPECT_EQ(id->offset, 1u);
  EXPECT_EQ(Publish(a_, To("alice", "m2")), (MessageId{id->epoch, 2}.ToString()));
  Publish(a_, To("alice", "m3"));
  EXPECT_THAT(HistoryData("alice", first), ElementsAre("m2", "m3"));
  EXPECT_THAT(HistoryData("alice"), ElementsAre("m1", "m2", "m3"));
}

TEST_P(StoreContractTest, TheReplayRuleNamesEachOfItsFourResets) {
  for (int i = 1; i <= 8; ++i) Publish(a_, To("alice", absl::StrCat("m", i)));  // keeps 4..8
  const uint64_t epoch = MessageId::Parse(Publish(a_, To("bob", "x")))->epoch;
  auto reset_after = [&](const std::string& client, const std::string& id) {
    auto sink = std::make_shared<RecordingSink>();
    absl::StatusOr<OpenedStream> opened = a_.broker->OpenStream(client, id, sink);
    EXPECT_THAT(opened, IsOk());
    a_.broker->UnregisterStream(client, sink.get());
    return opened.ok() && opened->reset ? std::string(ResetReasonName(*opened->reset)) : "";
  };
  EXPECT_EQ(reset_after("alice", "garbage"), "malformed_id");
  EXPECT_EQ(reset_after("bob", MessageId{epoch + 1, 1}.ToString()), "foreign_epoch");
  EXPECT_EQ(reset_after("bob", MessageId{epoch, 9}.ToString()), "ahead_of_mailbox");
  absl::StatusOr<MailboxInfo> alice = a_.store->Describe("alice", clock_.Now());
  ASSERT_THAT(alice, IsOk());
  EXPECT_EQ(reset_after("alice", MessageId{alice->last_id->epoch, 2}.ToString()),
            "messages_evicted");
  EXPECT_EQ(reset_after("alice", MessageId{alice->last_id->epoch, 3}.ToString()), "")
      << "the id's own message may be gone";
}

TEST_P(StoreContractTest, TrimsDropTheOldestByCountBytesAndAge) {
  for (int i = 1; i <= 7; ++i) Publish(a_, To("alice", absl::StrCat("m", i)));
  EXPECT_THAT(HistoryData("alice"), ElementsAre("m3", "m4", "m5", "m6", "m7"));
  for (int i = 1; i <= 3; ++i) Publish(a_, To("bob", std::string(2000, 'a' + i)));
  EXPECT_EQ(HistoryData("bob").size(), 2u) << "5 KiB holds two 2 KB messages with overhead";
  PublishRequest brief = To("carol", "brief");
  brief.ttl = absl::Seconds(10);
  Publish(a_, brief);
  Publish(a_, To("carol", "lasting"));
  clock_.Advance(absl::Seconds(11));
  EXPECT_THAT(HistoryData("carol"), ElementsAre("lasting"));
}

TEST_P(StoreContractTest, ARetryUnderTheSameIdempotencyKeyAppendsNothing) {
  absl::StatusOr<PublishResult> first = a_.broker->Publish(To("alice", "once", "key-1"));
  absl::StatusOr<PublishResult> again = a_.broker->Publish(To("alice", "once", "key-1"));
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(again, IsOk());
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->id, first->id);
  EXPECT_THAT(HistoryData("alice"), ElementsAre("once"));
}

TEST_P(StoreContractTest, TopicsReachTheirMembersAndRespectTheirLimit) {
  ASSERT_THAT(a_.broker->Subscribe("alice", "news"), IsOk());
  ASSERT_THAT(a_.broker->Subscribe("bob", "news"), IsOk());
  ASSERT_THAT(a_.broker->Subscribe("alice", "sport"), IsOk());
  EXPECT_THAT(a_.broker->Subscribe("alice", "weather"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  absl::StatusOr<PublishResult> sent = a_.broker->Publish(ToTopic("news", "hello"));
  ASSERT_THAT(sent, IsOk());
  EXPECT_EQ(sent->mailboxes, 2u);
  EXPECT_THAT(HistoryData("bob"), ElementsAre("hello"));
  ASSERT_THAT(a_.broker->Unsubscribe("bob", "news"), IsOk());
  EXPECT_THAT(a_.broker->Unsubscribe("bob", "news"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(*a_.store->TopicMembers("news"), ElementsAre("alice"));
  absl::StatusOr<ClientState> alice = a_.broker->GetClient("alice");
  ASSERT_THAT(alice, IsOk());
  EXPECT_THAT(alice->topics, ElementsAre("news", "sport"));
}

TEST_P(StoreContractTest, ABroadcastReachesEveryMailbox) {
  for (const char* client : {"alice", "bob", "carol"}) Publish(a_, To(client, "hi"));
  PublishRequest all;
  all.target.kind = PublishTarget::Kind::kBroadcast;
  all.data = "to all";
  absl::StatusOr<PublishResult> sent = a_.broker->Publish(all);
  ASSERT_THAT(sent, IsOk());
  EXPECT_EQ(sent->mailboxes, 3u);
  for (const char* client : {"alice", "bob", "carol"}) {
    EXPECT_THAT(HistoryData(client), ElementsAre("hi", "to all")) << client;
  }
}

TEST_P(StoreContractTest, AStreamGetsLiveMessagesAndCountsAsPresence) {
  auto sink = std::make_shared<RecordingSink>();
  absl::StatusOr<OpenedStream> opened = a_.broker->OpenStream("alice", std::nullopt, sink);
  ASSERT_THAT(opened, IsOk());
  absl::StatusOr<ClientState> online = a_.broker->GetClient("alice");
  ASSERT_THAT(online, IsOk());
  EXPECT_TRUE(online->online);
  EXPECT_EQ(online->streams, 1u);
  const std::string id = Publish(a_, To("alice", "live"));
  EXPECT_THAT(sink->AwaitData(1), ElementsAre("live"));
  EXPECT_THAT(sink->ids(), ElementsAre(id));
  a_.broker->UnregisterStream("alice", sink.get());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  absl::StatusOr<ClientState> offline = a_.broker->GetClient("alice");
  while (offline.ok() && offline->online && absl::Now() < deadline) {  // the release is async
    absl::SleepFor(absl::Milliseconds(10));
    offline = a_.broker->GetClient("alice");
  }
  ASSERT_THAT(offline, IsOk());
  EXPECT_FALSE(offline->online);
  EXPECT_EQ(offline->last_seen, clock_.Now());
}

TEST_P(StoreContractTest, AConnectionWithoutAnIdStartsAfterWhatWasConfirmed) {
  const std::string first = Publish(a_, To("alice", "m1"));
  Publish(a_, To("alice", "m2"));
  a_.broker->ConfirmDelivered("alice", *MessageId::Parse(first));
  // The Redis store sends confirmations once a second.
  std::vector<std::string> replay;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  do {
    auto sink = std::make_shared<RecordingSink>();
    absl::StatusOr<OpenedStream> opened = a_.broker->OpenStream("alice", std::nullopt, sink);
    ASSERT_THAT(opened, IsOk());
    a_.broker->UnregisterStream("alice", sink.get());
    replay.clear();
    for (const Message& message : opened->replay) replay.push_back(message.payload->data);
  } while (replay.size() != 1 && absl::Now() < deadline &&
           (absl::SleepFor(absl::Milliseconds(50)), true));
  EXPECT_THAT(replay, ElementsAre("m2"));
}

TEST_P(StoreContractTest, DeletingAClientDropsItsMailboxTopicsAndStreams) {
  ASSERT_THAT(a_.broker->Subscribe("alice", "news"), IsOk());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_THAT(a_.broker->OpenStream("alice", std::nullopt, sink), IsOk());
  ASSERT_THAT(a_.broker->DeleteClient("alice"), IsOk());
  CloseCause cause;
  EXPECT_TRUE(sink->AwaitClosed(&cause));
  EXPECT_EQ(cause, CloseCause::kClientDeleted);
  EXPECT_THAT(a_.broker->GetClient("alice"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(*a_.store->TopicMembers("news"), IsEmpty());
  EXPECT_THAT(a_.broker->DeleteClient("alice"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(StoreContractTest, AnIdleMailboxExpiresUnlessAStreamHoldsIt) {
  Publish(a_, To("alice", "m"));
  Publish(a_, To("bob", "m"));
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_THAT(a_.broker->OpenStream("bob", std::nullopt, sink), IsOk());
  clock_.Advance(retention_.ttl + absl::Seconds(1));
  if (redis()) {
    // The clock jumped a day: renew bob's lease at once, as the store does
    // every 5 s.
    auto* store = static_cast<redis::RedisMailboxStore*>(a_.store.get());
    store->RenewLeasesForTesting(clock_.Now());
  }
  EXPECT_EQ(a_.broker->Sweep(), 1u);
  EXPECT_THAT(a_.broker->GetClient("alice"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(a_.broker->GetClient("bob"), IsOk());
}

// Two processes on one Redis: what one does, the other sees.
TEST_P(StoreContractTest, ReplicasShareMailboxesDeliveryKeysAndControl) {
  if (!redis()) GTEST_SKIP() << "one process holds the memory store";
  Replica b = NewReplica("b");
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_THAT(b.broker->OpenStream("alice", std::nullopt, sink), IsOk());
  const std::string id = Publish(a_, To("alice", "via a", "key-2"));
  EXPECT_THAT(sink->AwaitData(1), ElementsAre("via a"));
  absl::StatusOr<PublishResult> retried = b.broker->Publish(To("alice", "via a", "key-2"));
  ASSERT_THAT(retried, IsOk());
  EXPECT_TRUE(retried->duplicate);
  EXPECT_EQ(retried->id, id);
  absl::StatusOr<ClientState> state = a_.broker->GetClient("alice");
  ASSERT_THAT(state, IsOk());
  EXPECT_TRUE(state->online) << "b holds the stream";
  absl::StatusOr<size_t> told = a_.broker->Disconnect("alice", 1000);
  ASSERT_THAT(told, IsOk());
  EXPECT_EQ(*told, 1u);
  CloseCause cause;
  EXPECT_TRUE(sink->AwaitClosed(&cause));
  EXPECT_EQ(cause, CloseCause::kDisconnected);
}

// A Redis restarted from a snapshot (as after a crash with everysec AOF):
// the mailbox written under the old process takes a new epoch, and the
// store says so once (the broker logs it as redis_fence_applied).
TEST(RedisStoreTest, AFencedMailboxIsReportedOnce) {
  absl::StatusOr<RedisServer> server = RedisServer::Start();
  ASSERT_THAT(server, IsOk());
  absl::Mutex mu;
  std::vector<uint64_t> reports;
  redis::RedisStoreOptions options;
  options.address = server->address();
  options.replica_id = "a";
  options.stats_interval = absl::Milliseconds(100);
  options.on_fenced = [&](uint64_t newly, uint64_t total) {
    absl::MutexLock lock(&mu);
    reports.push_back(newly);
    reports.push_back(total);
  };
  auto store = redis::RedisMailboxStore::Start(options, RetentionPolicy{}, StoreLimits{});
  ASSERT_THAT(store, IsOk());
  auto payload = std::make_shared<const Payload>(Payload{"", "m"});
  absl::StatusOr<std::vector<AppendedMessage>> first = absl::UnavailableError("not yet");
  for (int i = 0; i < 100 && !first.ok(); ++i) {
    first = (*store)->Append({"alice"}, payload, absl::Now(), absl::InfiniteFuture(), "");
    if (!first.ok()) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_THAT(first, IsOk());
  {
    absl::StatusOr<std::unique_ptr<redis::RedisClient>> cli =
        redis::RedisClient::Start(redis::ConnectionTo(server->address()));
    ASSERT_THAT(cli, IsOk());
    ASSERT_THAT((*cli)->Call({"SAVE"}), IsOk());
  }
  absl::SleepFor(absl::Milliseconds(1500));  // a first stats refresh (each second): the baseline
  ASSERT_THAT(server->Restart(), IsOk());
  absl::StatusOr<std::vector<AppendedMessage>> second = absl::UnavailableError("not yet");
  for (int i = 0; i < 100 && !second.ok(); ++i) {
    second = (*store)->Append({"alice"}, payload, absl::Now(), absl::InfiniteFuture(), "");
    if (!second.ok()) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_THAT(second, IsOk());
  EXPECT_NE((*second)[0].id.epoch, (*first)[0].id.epoch);
  EXPECT_EQ((*second)[0].id.offset, 2u) << "the snapshot kept the first message";
  absl::MutexLock lock(&mu);
  auto reported = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return !reports.empty(); };
  mu.AwaitWithTimeout(absl::Condition(&reported), absl::Seconds(5));
  EXPECT_THAT(reports, ElementsAre(1u, 1u));
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest, ::testing::Values("memory", "redis", "cluster"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace pushbroker
