#include "tests/support/broker_replicas.h"

#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "broker/message_id.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::testing {

Replica StartReplica(const std::string& redis_addrs, const std::string& name,
                     absl::Duration io_timeout, const std::function<void(AppOptions&)>& tweak) {
  AppOptions options = TestAppOptions();
  options.store = "redis";
  options.redis.address = redis_addrs;
  options.redis.replica_id = name;
  options.redis.io_timeout = io_timeout;
  if (tweak) tweak(options);
  Replica replica;
  absl::StatusOr<std::unique_ptr<BrokerApp>> app = BrokerApp::Start(options);
  EXPECT_THAT(app, IsOk());
  if (!app.ok()) return replica;
  replica.app = *std::move(app);
  replica.stub = v1::Broker::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", replica.app->grpc_port()), grpc::InsecureChannelCredentials()));
  return replica;
}

grpc::Status PublishVia(Replica& via, const std::string& client, const std::string& data,
                        v1::PublishResponse* response, const std::string& key) {
  v1::PublishRequest request;
  request.set_client_id(client);
  request.set_data(data);
  request.set_idempotency_key(key);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return via.stub->Publish(&context, request, response);
}

std::unique_ptr<SseClient> StreamAt(Replica& at, const std::string& client,
                                    const std::string& last_event_id) {
  SseClient::Headers headers;
  if (!last_event_id.empty()) headers.push_back({"Last-Event-ID", last_event_id});
  return SseClient::Open(at.app->http_port(), absl::StrCat("/v1/events?client_id=", client),
                         headers);
}

void ExpectLostWritesReset(Replica& via, const std::string& client,
                           const std::vector<std::string>& ids, absl::Duration timeout) {
  ASSERT_EQ(ids.size(), 5u);
  v1::PublishResponse response;
  const absl::Time deadline = absl::Now() + timeout;
  grpc::Status sent;
  do {
    sent = PublishVia(via, client, "after", &response, "after-key");
    if (!sent.ok()) absl::SleepFor(absl::Milliseconds(100));
  } while (!sent.ok() && absl::Now() < deadline);
  ASSERT_TRUE(sent.ok()) << sent.error_message();
  const std::optional<MessageId> lost = MessageId::Parse(ids.back());
  const std::optional<MessageId> after = MessageId::Parse(response.id());
  ASSERT_TRUE(lost.has_value() && after.has_value());
  EXPECT_NE(after->epoch, lost->epoch) << "an id a browser may hold is never reused";
  EXPECT_EQ(after->offset, 4u) << "the new epoch continues after what Redis kept";
  std::vector<SseEvent> events;
  // As EventSource does, come back until the stream opens (the live feed
  // resubscribes in the background).
  while (events.size() < 5 && absl::Now() < deadline + absl::Seconds(10)) {
    auto stream = StreamAt(via, client, ids.back());  // the browser saw all five
    ASSERT_NE(stream, nullptr);
    events = stream->Take(5, absl::Seconds(1));
  }
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].type, "reset");
  EXPECT_NE(events[0].data.find("foreign_epoch"), std::string::npos) << events[0].data;
  EXPECT_EQ(events[1].data, "0");
  EXPECT_EQ(events[3].data, "2");
  EXPECT_EQ(events[4].data, "after");
}

void Browser::Take(const SseEvent& event) {
  if (event.type == "reset") {
    ++resets;
    reset_pending = true;
    return;
  }
  const std::optional<MessageId> id = MessageId::Parse(event.last_event_id);
  const std::optional<MessageId> last = MessageId::Parse(last_event_id);
  if (failure.empty() && id.has_value() && last.has_value() && last->offset > 0 && !reset_pending &&
      (id->epoch != last->epoch || id->offset != last->offset + 1)) {
    failure = absl::StrCat(event.last_event_id, " follows ", last_event_id, " with no reset");
  }
  reset_pending = false;
  last_event_id = event.last_event_id;
  data.push_back(event.data);
}

}  // namespace pushbroker::testing
