// Publishing many messages per call, over a real gRPC channel: PublishBatch
// (order, per-request errors, idempotency, limits, waits) and PublishStream's
// read-ahead (answers in request order while later requests are published).
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "broker/message_id.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/child_process.h"

namespace pushbroker::testing {
namespace {

v1::PublishRequest To(const std::string& client, const std::string& data) {
  v1::PublishRequest request;
  request.set_client_id(client);
  request.set_data(data);
  return request;
}

class PublishBatchTest : public BrokerFixture {
 protected:
  grpc::Status Batch(const std::vector<v1::PublishRequest>& requests,
                     v1::PublishBatchResponse* response) {
    v1::PublishBatchRequest batch;
    for (const auto& request : requests) *batch.add_requests() = request;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub_->PublishBatch(&context, batch, response);
  }
  // The data of every message in the client's mailbox, oldest first.
  std::vector<std::string> Mailbox(const std::string& client) {
    std::vector<std::string> data;
    grpc::ClientContext context;
    v1::HistoryRequest request;
    request.set_client_id(client);
    request.set_limit(10000);
    v1::HistoryResponse history;
    if (!stub_->History(&context, request, &history).ok()) return data;
    for (const auto& message : history.messages()) data.push_back(message.data());
    return data;
  }
};

TEST_F(PublishBatchTest, EveryRequestIsPublishedInOrderWithItsOwnResult) {
  StartBroker();
  {
    grpc::ClientContext context;
    v1::SubscribeRequest subscribe;
    subscribe.set_client_id("carol");
    subscribe.set_topic("room");
    v1::SubscribeResponse subscribed;
    ASSERT_TRUE(stub_->Subscribe(&context, subscribe, &subscribed).ok());
  }
  std::vector<v1::PublishRequest> requests;
  for (int i = 0; i < 300; ++i) {
    requests.push_back(To(i % 2 == 0 ? "alice" : "bob", std::to_string(i)));
  }
  v1::PublishRequest to_room;
  to_room.set_topic("room");
  to_room.set_data("to the room");
  requests.push_back(to_room);
  v1::PublishRequest to_list = To("", "to a list");
  to_list.mutable_clients()->add_ids("alice");
  to_list.mutable_clients()->add_ids("dave");
  to_list.set_return_ids(true);
  requests.push_back(to_list);

  v1::PublishBatchResponse response;
  ASSERT_TRUE(Batch(requests, &response).ok());
  ASSERT_EQ(response.results_size(), 302);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(response.results(i).has_response()) << i;
    auto id = MessageId::Parse(response.results(i).response().id());
    ASSERT_TRUE(id.has_value()) << i;
    EXPECT_EQ(id->offset, static_cast<uint64_t>(i / 2 + 1)) << "request " << i;
  }
  EXPECT_EQ(response.results(300).response().mailboxes(), 1u);
  EXPECT_EQ(response.results(301).response().recipients_size(), 2);
  std::vector<std::string> alice = Mailbox("alice");
  ASSERT_EQ(alice.size(), 151u);
  for (int i = 0; i < 150; ++i) EXPECT_EQ(alice[i], std::to_string(2 * i));
  EXPECT_EQ(alice.back(), "to a list");
  EXPECT_EQ(Mailbox("bob").size(), 150u);
  EXPECT_EQ(Mailbox("carol"), std::vector<std::string>{"to the room"});
}

TEST_F(PublishBatchTest, ABadRequestFailsAloneWithItsStatusAndTheOthersGoOn) {
  StartBroker([](AppOptions& options) { options.broker.limits.max_message_bytes = 1024; });
  std::vector<v1::PublishRequest> requests;
  requests.push_back(To("alice", "one"));
  requests.push_back(To("alice", "forged"));
  requests.back().set_event("x\nid: 1");
  requests.push_back(To("alice", "two"));
  requests.push_back(To("alice", std::string(1025, 'x')));
  requests.push_back(To("", "nowhere"));
  requests.back().clear_target();
  requests.push_back(To("alice", "\xc3\x28"));
  requests.push_back(To("alice", "waits too long"));
  requests.back().set_wait_for(v1::RECEIPT_DELIVERED);
  requests.back().mutable_wait_timeout()->set_seconds(3600);
  requests.push_back(To("alice", "three"));

  v1::PublishBatchResponse response;
  ASSERT_TRUE(Batch(requests, &response).ok());
  ASSERT_EQ(response.results_size(), 8);
  for (int i : {0, 2, 7}) EXPECT_TRUE(response.results(i).has_response()) << i;
  for (int i : {1, 3, 4, 5, 6}) {
    ASSERT_TRUE(response.results(i).has_error()) << i;
    EXPECT_EQ(response.results(i).error().code(), grpc::StatusCode::INVALID_ARGUMENT) << i;
    EXPECT_FALSE(response.results(i).error().message().empty()) << i;
  }
  EXPECT_NE(response.results(3).error().message().find("1024"), std::string::npos)
      << response.results(3).error().message();
  EXPECT_NE(response.results(4).error().message().find("no target"), std::string::npos);
  EXPECT_EQ(Mailbox("alice"), (std::vector<std::string>{"one", "two", "three"}));
}

TEST_F(PublishBatchTest, IdempotencyKeysHoldPerRequestWithinAndAcrossBatches) {
  StartBroker();
  std::vector<v1::PublishRequest> requests;
  requests.push_back(To("alice", "charge card"));
  requests.back().set_idempotency_key("payment-1");
  requests.push_back(To("alice", "charge card again"));
  requests.back().set_idempotency_key("payment-1");
  requests.push_back(To("alice", "ship"));
  requests.back().set_idempotency_key("shipment-1");
  v1::PublishBatchResponse first;
  ASSERT_TRUE(Batch(requests, &first).ok());
  ASSERT_EQ(first.results_size(), 3);
  EXPECT_FALSE(first.results(0).response().duplicate());
  EXPECT_TRUE(first.results(1).response().duplicate());
  EXPECT_EQ(first.results(1).response().id(), first.results(0).response().id());
  EXPECT_FALSE(first.results(2).response().duplicate());

  // The whole batch retried (a lost answer): nothing new is appended.
  v1::PublishBatchResponse retried;
  ASSERT_TRUE(Batch(requests, &retried).ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(retried.results(i).response().duplicate()) << i;
    EXPECT_EQ(retried.results(i).response().id(), first.results(i).response().id()) << i;
  }
  EXPECT_EQ(Mailbox("alice"), (std::vector<std::string>{"charge card", "ship"}));
}

TEST_F(PublishBatchTest, ABatchPastItsLimitsIsRefusedWholeWithNothingAppended) {
  StartBroker([](AppOptions& options) {
    options.grpc.publish_limits.max_batch_size = 50;
    options.grpc.max_receive_message_bytes = 64 * 1024;
    options.grpc.publish_rate = RateLimit{0.001, 60};  // 60 at once, then next to none
  });
  std::vector<v1::PublishRequest> requests;
  for (int i = 0; i < 51; ++i) requests.push_back(To("alice", std::to_string(i)));
  v1::PublishBatchResponse response;
  grpc::Status status = Batch(requests, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("--max_batch_size is 50"), std::string::npos)
      << status.error_message();

  status = Batch({}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("empty"), std::string::npos);

  // Over the request size gRPC takes: refused before the service sees it.
  std::vector<v1::PublishRequest> large;
  for (int i = 0; i < 10; ++i) large.push_back(To("alice", std::string(8000, 'x')));
  status = Batch(large, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_TRUE(Mailbox("alice").empty());

  // The rate counts every request: 50 fit the burst of 60, 11 more do not.
  requests.resize(50);
  ASSERT_TRUE(Batch(requests, &response).ok());
  requests.resize(11);
  status = Batch(requests, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("--publish_rate_per_key"), std::string::npos);
  EXPECT_EQ(Mailbox("alice").size(), 50u);
}

TEST_F(PublishBatchTest, RequestsThatWaitAnswerWithTheirReceiptsOnceAllAreIn) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  std::vector<v1::PublishRequest> requests;
  requests.push_back(To("alice", "delivered"));
  requests.back().set_wait_for(v1::RECEIPT_DELIVERED);
  requests.push_back(To("nobody-online", "not delivered"));
  requests.back().set_wait_for(v1::RECEIPT_DELIVERED);
  requests.back().mutable_wait_timeout()->set_nanos(300000000);
  requests.push_back(To("alice", "plain"));
  const absl::Time start = absl::Now();
  v1::PublishBatchResponse response;
  ASSERT_TRUE(Batch(requests, &response).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290)) << "answered after the last wait";
  ASSERT_EQ(response.results_size(), 3);
  EXPECT_EQ(response.results(0).response().delivered(), 1u);
  EXPECT_EQ(response.results(1).response().delivered(), 0u);
  EXPECT_FALSE(response.results(1).response().id().empty()) << "kept in the mailbox";
  EXPECT_EQ(response.results(2).response().delivered(), 0u) << "did not wait";
  std::vector<SseEvent> events = stream->Take(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "delivered");
  EXPECT_EQ(events[1].data, "plain");
}

TEST_F(PublishBatchTest, PushctlSendsStdinLinesInBatchesAndReportsRefusedLines) {
  StartBroker();
  const std::string target = absl::StrCat(" --target=127.0.0.1:", app_->grpc_port());
  CommandResult run = RunCommand(absl::StrCat("seq 1 1000 | ", PUSHCTL_PATH, target,
                                              " publish-stream --client_id=bob --batch_size=64"));
  EXPECT_EQ(run.exit_status, 0);
  int lines = 0;
  for (char c : run.output) lines += c == '\n';
  EXPECT_EQ(lines, 1000);
  std::vector<std::string> bob = Mailbox("bob");
  ASSERT_EQ(bob.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(bob[i], std::to_string(i + 1));

  // Invalid UTF-8 on one line: that line is refused, the others go, exit 1.
  run = RunCommand(absl::StrCat("printf 'a\\n\\303\\050\\nb\\n' | ", PUSHCTL_PATH, target,
                                " publish-stream --client_id=erin 2>/dev/null"));
  EXPECT_EQ(run.exit_status, 1);
  EXPECT_NE(run.output.find("\"error\""), std::string::npos) << run.output;
  EXPECT_EQ(Mailbox("erin"), (std::vector<std::string>{"a", "b"}));
}

TEST_F(PublishBatchTest, PublishStreamPublishesAheadOfItsAnswersYetAnswersInOrder) {
  StartBroker([](AppOptions& options) { options.grpc.publish_limits.stream_window = 16; });
  grpc::ClientContext context;
  auto stream = stub_->PublishStream(&context);
  // The first request waits 1.5 s for a receipt that never comes; the
  // ones after it are published meanwhile, and answered after it.
  v1::PublishRequest waiting = To("offline", "first");
  waiting.set_wait_for(v1::RECEIPT_DELIVERED);
  waiting.mutable_wait_timeout()->set_nanos(500000000);
  waiting.mutable_wait_timeout()->set_seconds(1);
  ASSERT_TRUE(stream->Write(waiting));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(stream->Write(To("bob", std::to_string(i))));
  const absl::Time deadline = absl::Now() + absl::Seconds(1);
  while (Mailbox("bob").size() < 10 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(Mailbox("bob").size(), 10u) << "published while the first waits";
  // Past the window, the stream waits for its answers to be written.
  for (int i = 10; i < 500; ++i) ASSERT_TRUE(stream->Write(To("bob", std::to_string(i))));
  stream->WritesDone();
  v1::PublishResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.id().substr(response.id().find('-')), "-1");
  EXPECT_EQ(response.delivered(), 0u);
  uint64_t expected_offset = 1;
  while (stream->Read(&response)) {
    auto id = MessageId::Parse(response.id());
    ASSERT_TRUE(id.has_value());
    EXPECT_EQ(id->offset, expected_offset++);
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(expected_offset, 501u);
  std::vector<std::string> bob = Mailbox("bob");
  ASSERT_EQ(bob.size(), 500u);
  for (int i = 0; i < 500; ++i) ASSERT_EQ(bob[i], std::to_string(i));
}

TEST_F(PublishBatchTest, ConcurrentStreamsWrittenAndReadAtOnceLoseAndRepeatNothing) {
  StartBroker();
  constexpr int kStreams = 4;
  constexpr int kPerStream = 1600;  // 800 a mailbox: within retention
  std::vector<std::thread> publishers;
  std::atomic<int> answered{0};
  for (int s = 0; s < kStreams; ++s) {
    publishers.emplace_back([&, s] {
      grpc::ClientContext context;
      auto stream = stub_->PublishStream(&context);
      std::thread reader([&] {
        v1::PublishResponse response;
        while (stream->Read(&response)) ++answered;
      });
      for (int i = 0; i < kPerStream; ++i) {
        // Each stream writes to its own two clients, alternating.
        if (!stream->Write(To(absl::StrCat("s", s, "-", i % 2), std::to_string(i)))) break;
      }
      stream->WritesDone();
      reader.join();
      EXPECT_TRUE(stream->Finish().ok());
    });
  }
  for (auto& publisher : publishers) publisher.join();
  EXPECT_EQ(answered.load(), kStreams * kPerStream);
  for (int s = 0; s < kStreams; ++s) {
    for (int parity = 0; parity < 2; ++parity) {
      std::vector<std::string> expected;
      for (int i = parity; i < kPerStream; i += 2) expected.push_back(std::to_string(i));
      EXPECT_EQ(Mailbox(absl::StrCat("s", s, "-", parity)), expected) << s << "-" << parity;
    }
  }
}

TEST_F(PublishBatchTest, PublishStreamStopsReadingAtABadRequest) {
  StartBroker();
  grpc::ClientContext context;
  auto stream = stub_->PublishStream(&context);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(stream->Write(To("alice", std::to_string(i))));
  v1::PublishRequest bad = To("alice", "bad");
  bad.set_event("a\nb");
  ASSERT_TRUE(stream->Write(bad));
  for (int i = 5; i < 50; ++i) {
    if (!stream->Write(To("alice", std::to_string(i)))) break;
  }
  stream->WritesDone();
  v1::PublishResponse response;
  int answered = 0;
  while (stream->Read(&response)) ++answered;
  grpc::Status status = stream->Finish();
  EXPECT_EQ(answered, 5);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("request #5"), std::string::npos) << status.error_message();
  EXPECT_EQ(Mailbox("alice"), (std::vector<std::string>{"0", "1", "2", "3", "4"}))
      << "nothing after the bad request";
}

}  // namespace
}  // namespace pushbroker::testing
