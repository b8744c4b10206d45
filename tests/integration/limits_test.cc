// Resource limits against the real server: streams per client, mailboxes,
// topics per client, publish rate per API key, and the memory budget. Each
// refusal is a clear RESOURCE_EXHAUSTED or 429, and what was accepted
// before is still there afterwards.
#include <fstream>
#include <string>
#include <vector>

#include "httplib.h"
#include "tests/support/broker_fixture.h"

namespace pushbroker::testing {
namespace {

class LimitsTest : public BrokerFixture {
 protected:
  std::vector<std::string> DataOf(const std::string& client) {
    std::vector<std::string> data;
    const v1::HistoryResponse history = History(client);
    for (const auto& message : history.messages()) data.push_back(message.data());
    return data;
  }
  grpc::Status PublishData(const std::string& client, const std::string& data,
                           const std::string& authorization = "") {
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::PublishRequest request;
    request.set_client_id(client);
    request.set_data(data);
    v1::PublishResponse response;
    return stub_->Publish(&context, request, &response);
  }
};

TEST_F(LimitsTest, StreamsPerClientAreCappedWith429) {
  StartBroker([](AppOptions& options) { options.broker.max_streams_per_client = 2; });
  auto first = OpenStream("alice");
  auto second = OpenStream("alice");
  ASSERT_EQ(first->status(), 200);
  ASSERT_EQ(second->status(), 200);
  auto third = SseClient::Open(app_->http_port(), "/v1/events?client_id=alice");
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->status(), 429);
  const std::string body = third->ReadBody();
  EXPECT_NE(body.find("\"error\":\"resource_exhausted\""), std::string::npos) << body;
  EXPECT_NE(body.find("--max_streams_per_client=2"), std::string::npos) << body;
  httplib::Client client("127.0.0.1", app_->http_port());
  auto poll = client.Get("/v1/poll?client_id=alice&timeout_ms=0");
  ASSERT_TRUE(poll);
  EXPECT_EQ(poll->status, 429);
  // Another client is not affected, and the two open streams still deliver.
  EXPECT_EQ(OpenStream("bob")->status(), 200);
  PublishTo("alice", "still here");
  EXPECT_EQ(first->Next()->data, "still here");
  EXPECT_EQ(second->Next()->data, "still here");
  // A closed stream frees its place.
  first.reset();
  ASSERT_TRUE(WaitForStreams("alice", 1));
  EXPECT_EQ(OpenStream("alice")->status(), 200);
}

TEST_F(LimitsTest, MailboxesAreCappedAndARefusedPublishChangesNothing) {
  StartBroker([](AppOptions& options) { options.store_limits.max_mailboxes = 2; });
  PublishTo("a", "a1");
  PublishTo("b", "b1");
  grpc::Status refused = PublishData("c", "c1");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("--max_mailboxes=2"), std::string::npos);
  // A list publish that would create one is refused whole.
  grpc::ClientContext context;
  v1::PublishRequest list;
  list.mutable_clients()->add_ids("a");
  list.mutable_clients()->add_ids("c");
  list.set_data("to both");
  v1::PublishResponse response;
  EXPECT_EQ(stub_->Publish(&context, list, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(DataOf("a"), std::vector<std::string>{"a1"});
  // A new client's stream is refused too; existing ones carry on.
  auto stream = SseClient::Open(app_->http_port(), "/v1/events?client_id=c");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->status(), 429);
  EXPECT_NE(stream->ReadBody().find("--max_mailboxes=2"), std::string::npos);
  PublishTo("a", "a2");
  EXPECT_EQ(DataOf("a"), (std::vector<std::string>{"a1", "a2"}));
}

TEST_F(LimitsTest, TopicsPerClientAreCapped) {
  StartBroker([](AppOptions& options) { options.store_limits.max_topics_per_client = 2; });
  auto subscribe = [this](const std::string& topic) {
    grpc::ClientContext context;
    v1::SubscribeRequest request;
    request.set_client_id("alice");
    request.set_topic(topic);
    v1::SubscribeResponse response;
    return stub_->Subscribe(&context, request, &response);
  };
  ASSERT_TRUE(subscribe("t1").ok());
  ASSERT_TRUE(subscribe("t2").ok());
  grpc::Status refused = subscribe("t3");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("--max_topics_per_client=2"), std::string::npos);
  v1::ClientInfo info;
  ASSERT_TRUE(GetClient("alice", &info).ok());
  EXPECT_EQ(info.topics_size(), 2);
}

TEST_F(LimitsTest, PublishRateIsPerApiKey) {
  const std::string keys_file = ::testing::TempDir() + "/rate_keys_" + std::to_string(::getpid());
  {
    std::ofstream file(keys_file, std::ios::trunc);
    file << "rate-key-a-0123456789\nrate-key-b-0123456789\n";
  }
  StartBroker([&](AppOptions& options) {
    options.api_keys_file = keys_file;
    options.grpc.publish_rate = RateLimit{0.5, 3};  // a burst of 3, then one per 2 s
  });
  const std::string key_a = "Bearer rate-key-a-0123456789";
  const std::string key_b = "Bearer rate-key-b-0123456789";
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(PublishData("alice", "a" + std::to_string(i), key_a).ok());
  grpc::Status refused = PublishData("alice", "one too many", key_a);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("--publish_rate_per_key"), std::string::npos);
  // The stream counts against the same key, and names the request refused.
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", key_a);
    auto stream = stub_->PublishStream(&context);
    v1::PublishRequest request;
    request.set_client_id("alice");
    request.set_data("streamed");
    stream->Write(request);
    stream->WritesDone();
    v1::PublishResponse response;
    EXPECT_FALSE(stream->Read(&response));
    grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(status.error_message().find("request #0"), std::string::npos);
  }
  // Another key has its own budget.
  EXPECT_TRUE(PublishData("alice", "from b", key_b).ok());
  grpc::ClientContext context;
  context.AddMetadata("authorization", key_a);
  v1::HistoryRequest request;
  request.set_client_id("alice");
  v1::HistoryResponse history;
  ASSERT_TRUE(stub_->History(&context, request, &history).ok());
  std::vector<std::string> data;
  for (const auto& message : history.messages()) data.push_back(message.data());
  EXPECT_EQ(data, (std::vector<std::string>{"a0", "a1", "a2", "from b"}));
  std::remove(keys_file.c_str());
}

TEST_F(LimitsTest, TheMemoryBudgetEvictsTheLargestMailboxAndReplayPastItResets) {
  StartBroker([](AppOptions& options) {
    options.retention.max_bytes = 64 * 1024;
    options.retention.memory_budget_bytes = 100 * 1024;
  });
  const std::string kilobyte(1024 - kMessageOverheadBytes, 'k');  // counts as 1 KiB
  const std::string first_big = PublishTo("big", kilobyte);
  for (int i = 0; i < 59; ++i) PublishTo("big", kilobyte);    // 60 KiB
  for (int i = 0; i < 30; ++i) PublishTo("small", kilobyte);  // 30 KiB
  EXPECT_EQ(History("big").messages_size(), 60);
  for (int i = 0; i < 15; ++i) PublishTo("newcomer", kilobyte);  // past 100 KiB
  // The store's evictor runs on its own thread, moments after the publish.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (History("big").messages_size() == 60 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_LT(History("big").messages_size(), 60);
  EXPECT_EQ(History("small").messages_size(), 30);
  EXPECT_EQ(History("newcomer").messages_size(), 15);
  auto stream = OpenStream("big", {{"Last-Event-ID", first_big}});
  ASSERT_EQ(stream->status(), 200);
  auto reset = stream->Next();
  ASSERT_TRUE(reset.has_value());
  EXPECT_EQ(reset->type, "reset");
  EXPECT_NE(reset->data.find("messages_evicted"), std::string::npos) << reset->data;
}

}  // namespace
}  // namespace pushbroker::testing
