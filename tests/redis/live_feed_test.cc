// LiveFeed on a real redis-server: notifications reach the listener in
// order; a sequence gap, a lost subscription connection or a malformed
// notification resynchronises the streams it may have cost; a feed that
// hears nothing probes itself. The notification format is checked on its own.
#include "redis/live_feed.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "redis/functions.h"
#include "redis/notification.h"
#include "tests/support/redis_server.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::redis {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::RedisServer;
using ::testing::ElementsAre;

// Records what the feed asks of the local streams.
class RecordingListener final : public AppendListener {
 public:
  size_t OnAppended(const std::string& client_id, const Message& message, FanoutBatch&) override {
    absl::MutexLock lock(&mu_);
    appended_.push_back(absl::StrCat(client_id, " ", message.id.ToString(), " ",
                                     message.payload->event, "|", message.payload->data));
    return 1;
  }
  void CloseStreams(const std::string& client_id, CloseCause cause, uint32_t retry_ms) override {
    absl::MutexLock lock(&mu_);
    closed_.push_back(absl::StrCat(client_id, cause == CloseCause::kClientDeleted ? " deleted" : "",
                                   " ", retry_ms));
  }
  void Resync(const std::function<bool(const std::string&)>& affected, uint32_t) override {
    absl::MutexLock lock(&mu_);
    resyncs_.push_back(std::string(affected("alice") ? "alice" : "") +
                       (affected("bob") ? "+bob" : ""));
  }
  // Each waits (up to 5 s) until that many calls came.
  void AwaitAppended(size_t n) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return appended_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(5));
  }
  void AwaitClosed(size_t n) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(5));
  }
  void AwaitResyncs(size_t n) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return resyncs_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(5));
  }
  std::vector<std::string> appended() {
    absl::MutexLock lock(&mu_);
    return appended_;
  }
  std::vector<std::string> closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }
  std::vector<std::string> resyncs() {
    absl::MutexLock lock(&mu_);
    return resyncs_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> appended_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> closed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> resyncs_ ABSL_GUARDED_BY(mu_);
};

class LiveFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<RedisServer> server = RedisServer::Start();
    ASSERT_THAT(server, IsOk());
    server_ = std::make_unique<RedisServer>(*std::move(server));
    absl::StatusOr<std::unique_ptr<RedisClient>> client =
        RedisClient::Start(ConnectionTo(server_->address()));
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
    LiveFeedOptions options;
    options.address = server_->address();
    options.replica_id = "r1";
    options.resync_retry_ms = 700;
    options.probe_after = absl::Milliseconds(300);
    options.probe_timeout = absl::Milliseconds(300);
    absl::StatusOr<std::unique_ptr<LiveFeed>> feed = LiveFeed::Start(options);
    ASSERT_THAT(feed, IsOk());
    feed_ = *std::move(feed);
    feed_->SetListener(&listener_);
    feed_->Assign(LiveFeed::Partitions().set(), /*resync_new=*/false);  // the one server's
    AwaitLive();
  }

  void AwaitLive() {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (!feed_->live() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    ASSERT_TRUE(feed_->live());
  }

  // Publishes `text` on r1's channel of `client_id`'s partition.
  void Notify(const std::string& client_id, const std::string& text) {
    absl::StatusOr<RespValue> sent =
        client_->Call({"SPUBLISH", ReplicaChannel(PartitionOf(client_id), "r1"), text});
    ASSERT_THAT(sent, IsOk());
    EXPECT_EQ(sent->integer, 1) << "the feed is subscribed";
  }

  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisClient> client_;
  RecordingListener listener_;
  std::unique_ptr<LiveFeed> feed_;
};

TEST(NotificationTest, ParsesMessagesCloseRequestsAndProbes) {
  absl::StatusOr<Notification> messages =
      ParseNotification("7 M 1000 2000 4 2\nalice abc-3\nbob abc-9\nnotehello\nworld");
  ASSERT_THAT(messages, IsOk());
  EXPECT_EQ(messages->seq, 7u);
  EXPECT_EQ(messages->payload->event, "note");
  EXPECT_EQ(messages->payload->data, "hello\nworld");
  EXPECT_EQ(messages->published_at, absl::FromUnixMillis(1000));
  ASSERT_EQ(messages->appended.size(), 2u);
  EXPECT_EQ(messages->appended[1].first, "bob");
  EXPECT_EQ(messages->appended[1].second.ToString(), "abc-9");
  absl::StatusOr<Notification> close = ParseNotification("8 C deleted 0\nalice");
  ASSERT_THAT(close, IsOk());
  EXPECT_EQ(close->kind, Notification::Kind::kClose);
  EXPECT_EQ(close->cause, "deleted");
  EXPECT_EQ(close->client_id, "alice");
  absl::StatusOr<Notification> probe = ParseNotification(ProbeText(42));
  ASSERT_THAT(probe, IsOk());
  EXPECT_EQ(probe->kind, Notification::Kind::kProbe);
  EXPECT_EQ(*ProbeNonce(ProbeText(42)), 42u);
  for (const char* bad : {"", "x M", "1 M 1 2 3", "1 M 1 2 9 1\nalice abc-1\nev", "1 Z",
                          "1 M 1 2 0 1\nalice not-an-id\n", "1 C deleted\nalice"}) {
    EXPECT_FALSE(ParseNotification(bad).ok()) << bad;
  }
}

TEST_F(LiveFeedTest, NotificationsReachTheListenerInOrder) {
  Notify("alice", "1 M 1000 2000 0 1\nalice abc-1\nfirst");
  Notify("alice", "2 M 1000 2000 0 1\nalice abc-2\nsecond");
  Notify("alice", "3 C disconnected 1500\nalice");
  listener_.AwaitClosed(1);
  EXPECT_THAT(listener_.appended(), ElementsAre("alice abc-1 |first", "alice abc-2 |second"));
  EXPECT_THAT(listener_.closed(), ElementsAre("alice 1500"));
  EXPECT_TRUE(listener_.resyncs().empty());
}

TEST_F(LiveFeedTest, ASequenceGapResynchronisesThatPartitionsStreams) {
  Notify("alice", "1 M 1000 2000 0 1\nalice abc-1\nfirst");
  Notify("alice", "3 M 1000 2000 0 1\nalice abc-3\nthird");  // 2 was lost
  listener_.AwaitAppended(2);
  ASSERT_EQ(listener_.resyncs().size(), 1u);
  EXPECT_EQ(listener_.resyncs()[0].substr(0, 5), "alice");
  EXPECT_EQ(feed_->counters().resyncs.load(), 1u);
}

TEST_F(LiveFeedTest, AMalformedNotificationResynchronisesToo) {
  Notify("alice", "1 M garbage");
  listener_.AwaitResyncs(1);
  EXPECT_EQ(listener_.resyncs().size(), 1u);
  EXPECT_EQ(feed_->counters().malformed.load(), 1u);
}

TEST_F(LiveFeedTest, ALostConnectionResubscribesAndResynchronisesEveryStream) {
  ASSERT_THAT(client_->Call({"CLIENT", "KILL", "TYPE", "pubsub"}), IsOk());
  listener_.AwaitResyncs(1);
  EXPECT_THAT(listener_.resyncs(), ElementsAre("alice+bob"));
  AwaitLive();
  EXPECT_EQ(feed_->counters().subscribes.load(), 2u);
  Notify("bob", "1 M 1000 2000 0 1\nbob abc-1\nafter");
  listener_.AwaitAppended(1);
  EXPECT_THAT(listener_.appended(), ElementsAre("bob abc-1 |after"));
}

TEST_F(LiveFeedTest, ASilentFeedProbesItselfAndReconnectsWhenDeaf) {
  // Heard: each probe comes back through the feed; nothing else happens.
  for (int i = 0; i < 10; ++i) {
    feed_->CheckLiveness(*client_, absl::Now());
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(feed_->counters().probes_lost.load(), 0u);
  // Deaf: probes published where the feed cannot hear them (another
  // server) never come back, so the feed starts over and resubscribes.
  absl::StatusOr<RedisServer> elsewhere = RedisServer::Start();
  ASSERT_THAT(elsewhere, IsOk());
  absl::StatusOr<std::unique_ptr<RedisClient>> other =
      RedisClient::Start(ConnectionTo(elsewhere->address()));
  ASSERT_THAT(other, IsOk());
  for (int i = 0; i < 30 && feed_->counters().probes_lost.load() == 0; ++i) {
    feed_->CheckLiveness(**other, absl::Now());
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(feed_->counters().probes_lost.load(), 1u);
  AwaitLive();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (feed_->counters().subscribes.load() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(feed_->counters().subscribes.load(), 2u);
}

}  // namespace
}  // namespace pushbroker::redis
