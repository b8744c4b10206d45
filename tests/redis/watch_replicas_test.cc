// Watch across replicas on a real redis-server: a stream on replica A, the
// watcher and the publisher on replica B. B hears A's presence, stream and
// delivery events and a page's message sent to A; a Publish on B waiting for
// delivery completes when A writes the message; and A relays nothing while
// no replica wants it.
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "pushbroker/v1/broker.grpc.pb.h"
#include "tests/support/broker_replicas.h"
#include "tests/support/redis_server.h"
#include "tests/support/sse_client.h"
#include "tests/support/status_matchers.h"
#include "tests/support/watch_client.h"

namespace pushbroker::testing {
namespace {

class WatchReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<RedisServer> server = RedisServer::Start();
    ASSERT_THAT(server, IsOk());
    redis_ = std::make_unique<RedisServer>(*std::move(server));
    // A short ack timeout, so a dead member's events move on within the test.
    auto tweak = [](AppOptions& options) {
      options.broker.watch.ack_timeout = absl::Milliseconds(1500);
    };
    a_ = StartReplica(redis_->address(), "a", absl::Seconds(3), tweak);
    b_ = StartReplica(redis_->address(), "b", absl::Seconds(3), tweak);
    ASSERT_TRUE(a_.app && b_.app);
  }
  void TearDown() override {
    for (Replica* replica : {&a_, &b_}) {
      if (replica->app) replica->app->Shutdown();
    }
  }

  std::unique_ptr<RedisServer> redis_;
  Replica a_;
  Replica b_;
};

TEST_F(WatchReplicasTest, AStreamOnOneReplicaIsHeardAndAwaitedOnAnother) {
  auto watcher = WatchClient::Open(b_.stub.get(), v1::WatchRequest());
  // Until the relay has told A that B wants events (its advertisement is
  // refreshed every 0.5 s), A keeps them to itself.
  absl::SleepFor(absl::Milliseconds(1500));
  auto stream = StreamAt(a_, "alice", "");
  ASSERT_NE(stream, nullptr);
  ASSERT_EQ(stream->status(), 200);
  auto online = watcher->WaitForEvent([](const auto& e) { return e.kind() == "online"; });
  ASSERT_TRUE(online.has_value());
  EXPECT_EQ(online->client_id(), "alice");
  EXPECT_EQ(online->replica(), "a");

  // A publish on B waits for A to write the message to alice's stream.
  v1::PublishRequest request;
  request.set_client_id("alice");
  request.set_data("across");
  request.set_wait_for(v1::RECEIPT_DELIVERED);
  request.mutable_wait_timeout()->set_seconds(10);
  v1::PublishResponse response;
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(b_.stub->Publish(&context, request, &response).ok());
  EXPECT_EQ(response.delivered(), 1u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  auto event = stream->Next();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data, "across");
  auto delivered = watcher->WaitForEvent(
      [&](const auto& e) { return e.kind() == "delivered" && e.message_id() == response.id(); });
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->replica(), "a");

  // A page's message sent to A reaches B's watcher.
  httplib::Client http("127.0.0.1", a_.app->http_port());
  auto sent = http.Post("/v1/messages?client_id=alice", R"({"event":"vote","data":"red"})",
                        "application/json");
  ASSERT_TRUE(sent);
  ASSERT_EQ(sent->status, 202);
  auto message = watcher->WaitForEvent([](const auto& e) { return e.kind() == "client_message"; });
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->data(), "red");
  EXPECT_EQ(message->replica(), "a");
}

TEST_F(WatchReplicasTest, AWaitOnAReplicaWithoutWatchersStillHearsTheReceipt) {
  auto stream = StreamAt(a_, "bob", "");
  ASSERT_NE(stream, nullptr);
  absl::SleepFor(absl::Milliseconds(300));
  // Nobody watches: B asks the fleet for receipts when the wait begins.
  std::unique_ptr<SseClient> late;
  v1::PublishRequest request;
  request.set_client_id("carol");
  request.set_data("for carol");
  request.set_wait_for(v1::RECEIPT_DELIVERED);
  request.mutable_wait_timeout()->set_seconds(10);
  std::thread page([&] {
    absl::SleepFor(absl::Milliseconds(1500));  // after the fleet heard B's wants
    late = StreamAt(a_, "carol", "");
  });
  v1::PublishResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(b_.stub->Publish(&context, request, &response).ok());
  page.join();
  EXPECT_EQ(response.delivered(), 1u);
}

// A group with a member on each replica: every page message, posted to
// either replica, reaches exactly one member; then the member on B dies
// holding events it never confirmed, and they reach the member on A.
TEST_F(WatchReplicasTest, AGroupAcrossReplicasSharesEachEventOnceAndOutlivesAMember) {
  v1::WatchRequest open;
  open.add_kinds("client_message");
  open.set_group("tally");
  auto on_a = WatchClient::Open(a_.stub.get(), open, {/*auto_confirm=*/true});
  auto on_b = WatchClient::Open(b_.stub.get(), open, {/*auto_confirm=*/true});
  absl::SleepFor(absl::Milliseconds(1000));  // both consumers read the group
  constexpr int kMessages = 300;
  auto post = [&](Replica& at, int i) {
    httplib::Client http("127.0.0.1", at.app->http_port());
    auto sent =
        http.Post(absl::StrCat("/v1/messages?client_id=c", i % 30),
                  absl::StrCat(R"({"event":"vote","data":")", i, R"("})"), "application/json");
    return sent && sent->status == 202;
  };
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(post(i % 2 == 0 ? a_ : b_, i));
  auto total = [&] { return on_a->events().size() + on_b->events().size(); };
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (total() < kMessages && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  absl::SleepFor(absl::Milliseconds(300));  // nothing more may come
  std::multiset<std::string> seen;
  for (auto* member : {on_a.get(), on_b.get()}) {
    for (const auto& event : member->events()) seen.insert(event.data());
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kMessages)) << "an event went to both members";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), static_cast<size_t>(kMessages));
  EXPECT_GT(on_a->events().size(), 0u);
  EXPECT_GT(on_b->events().size(), 0u);

  // B's member now reads without confirming, and dies.
  on_b->Cancel();
  auto doomed = WatchClient::Open(b_.stub.get(), open);  // never confirms
  absl::SleepFor(absl::Milliseconds(500));
  for (int i = kMessages; i < kMessages + 40; ++i) ASSERT_TRUE(post(b_, i));
  absl::SleepFor(absl::Milliseconds(500));
  doomed->Cancel();
  std::set<std::string> late;
  const absl::Time claim_deadline = absl::Now() + absl::Seconds(15);
  while (late.size() < 40 && absl::Now() < claim_deadline) {
    late.clear();
    for (const auto& event : on_a->events()) {
      if (std::stoi(event.data()) >= kMessages) late.insert(event.data());
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(late.size(), 40u) << "events the dead member held never reached the live one";
}

}  // namespace
}  // namespace pushbroker::testing
