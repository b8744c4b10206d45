// pushbroker.v1.Broker over a real gRPC channel: targets, errors that change
// nothing, PublishStream order, idempotency, topics, health and reflection.
#include <cstdlib>
#include <string>
#include <vector>

#include "broker/message_id.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/unknown_field_set.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/raw_grpc.h"

namespace pushbroker::testing {
namespace {

class GrpcApiTest : public BrokerFixture {
 protected:
  size_t MailboxSize(const std::string& client) { return History(client).messages_size(); }
};

TEST_F(GrpcApiTest, BadPublishesGetInvalidArgumentAndLeaveTheMailboxAlone) {
  StartBroker([](AppOptions& options) { options.broker.limits.max_message_bytes = 1024; });
  PublishTo("alice", "kept");
  struct Case {
    std::string name;
    v1::PublishRequest request;
  };
  std::vector<Case> cases;
  auto base = [] {
    v1::PublishRequest r;
    r.set_client_id("alice");
    r.set_data("x");
    return r;
  };
  cases.push_back({"empty client id", base()});
  cases.back().request.set_client_id("");
  cases.push_back({"malformed client id", base()});
  cases.back().request.set_client_id("al ice/../x");
  cases.push_back({"event with LF", base()});
  cases.back().request.set_event("x\nid: 1");
  cases.push_back({"event with CR", base()});
  cases.back().request.set_event("x\rdata: forged");
  cases.push_back({"event with NUL", base()});
  cases.back().request.set_event(std::string("x\0y", 3));
  cases.push_back({"oversized data", base()});
  cases.back().request.set_data(std::string(1025, 'x'));
  cases.push_back({"invalid UTF-8", base()});
  cases.back().request.set_data("\xc3\x28");
  cases.push_back({"no target", base()});
  cases.back().request.clear_target();
  cases.push_back({"empty list", base()});
  cases.back().request.mutable_clients();
  cases.push_back({"bad id in list", base()});
  cases.back().request.mutable_clients()->add_ids("ok");
  cases.back().request.mutable_clients()->add_ids("not ok");
  cases.push_back({"broadcast false", base()});
  cases.back().request.set_broadcast(false);
  cases.push_back({"negative ttl", base()});
  cases.back().request.mutable_ttl()->set_seconds(-5);

  for (const Case& c : cases) {
    v1::PublishResponse response;
    grpc::Status status = Publish(c.request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_FALSE(status.error_message().empty()) << c.name;
  }
  auto history = History("alice");
  ASSERT_EQ(history.messages_size(), 1);
  EXPECT_EQ(history.messages(0).data(), "kept");
}

TEST_F(GrpcApiTest, UnknownClientsAreNotFound) {
  StartBroker();
  v1::ClientInfo info;
  EXPECT_EQ(GetClient("ghost", &info).error_code(), grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext context;
    v1::HistoryRequest request;
    request.set_client_id("ghost");
    v1::HistoryResponse response;
    EXPECT_EQ(stub_->History(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::DisconnectRequest request;
    request.set_client_id("ghost");
    v1::DisconnectResponse response;
    EXPECT_EQ(stub_->Disconnect(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::DeleteClientRequest request;
    request.set_client_id("ghost");
    v1::DeleteClientResponse response;
    EXPECT_EQ(stub_->DeleteClient(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::UnsubscribeRequest request;
    request.set_client_id("ghost");
    request.set_topic("room");
    v1::UnsubscribeResponse response;
    EXPECT_EQ(stub_->Unsubscribe(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(GrpcApiTest, ListTopicAndBroadcastTargets) {
  StartBroker();
  for (const char* client : {"alice", "bob"}) {
    grpc::ClientContext context;
    v1::SubscribeRequest request;
    request.set_client_id(client);
    request.set_topic("room-1");
    v1::SubscribeResponse response;
    ASSERT_TRUE(stub_->Subscribe(&context, request, &response).ok());
  }
  PublishTo("carol", "hello carol");

  v1::PublishRequest topic;
  topic.set_topic("room-1");
  topic.set_data("to the room");
  topic.set_return_ids(true);
  v1::PublishResponse topic_response;
  ASSERT_TRUE(Publish(topic, &topic_response).ok());
  EXPECT_EQ(topic_response.mailboxes(), 2u);
  ASSERT_EQ(topic_response.recipients_size(), 2);
  EXPECT_TRUE(MessageId::Parse(topic_response.recipients(0).id()).has_value());

  v1::PublishRequest list;
  list.mutable_clients()->add_ids("bob");
  list.mutable_clients()->add_ids("dave");
  list.set_data("to a list");
  v1::PublishResponse list_response;
  ASSERT_TRUE(Publish(list, &list_response).ok());
  EXPECT_EQ(list_response.mailboxes(), 2u);
  EXPECT_EQ(list_response.recipients_size(), 0);  // not asked for

  v1::PublishRequest everyone;
  everyone.set_broadcast(true);
  everyone.set_data("to all");
  v1::PublishResponse everyone_response;
  ASSERT_TRUE(Publish(everyone, &everyone_response).ok());
  EXPECT_EQ(everyone_response.mailboxes(), 4u);  // alice, bob, carol, dave

  EXPECT_EQ(MailboxSize("alice"), 2u);
  EXPECT_EQ(MailboxSize("bob"), 3u);
  EXPECT_EQ(MailboxSize("carol"), 2u);
  EXPECT_EQ(MailboxSize("dave"), 2u);

  v1::ClientInfo info;
  ASSERT_TRUE(GetClient("alice", &info).ok());
  ASSERT_EQ(info.topics_size(), 1);
  EXPECT_EQ(info.topics(0), "room-1");
  EXPECT_EQ(info.mailbox_size(), 2u);
  EXPECT_FALSE(info.online());

  grpc::ClientContext context;
  v1::UnsubscribeRequest leave;
  leave.set_client_id("alice");
  leave.set_topic("room-1");
  v1::UnsubscribeResponse left;
  ASSERT_TRUE(stub_->Unsubscribe(&context, leave, &left).ok());
  v1::PublishResponse after_leave;
  ASSERT_TRUE(Publish(topic, &after_leave).ok());
  EXPECT_EQ(after_leave.mailboxes(), 1u);
}

TEST_F(GrpcApiTest, PublishStreamAnswersInOrder) {
  StartBroker();
  grpc::ClientContext context;
  auto stream = stub_->PublishStream(&context);
  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) {
    v1::PublishRequest request;
    request.set_client_id("alice");
    request.set_data(std::to_string(i));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::PublishResponse response;
  uint64_t expected_offset = 1;
  while (stream->Read(&response)) {
    auto id = MessageId::Parse(response.id());
    ASSERT_TRUE(id.has_value());
    EXPECT_EQ(id->offset, expected_offset++);
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(expected_offset, kCount + 1u);
  auto history = History("alice");
  ASSERT_EQ(history.messages_size(), 100);  // the server's default page
  EXPECT_TRUE(history.more());
  EXPECT_EQ(history.messages(0).data(), "0");
}

TEST_F(GrpcApiTest, PublishStreamEndsOnABadRequestNamingIt) {
  StartBroker();
  grpc::ClientContext context;
  auto stream = stub_->PublishStream(&context);
  v1::PublishRequest good;
  good.set_client_id("alice");
  good.set_data("fine");
  v1::PublishRequest bad = good;
  bad.set_event("a\nb");
  ASSERT_TRUE(stream->Write(good));
  ASSERT_TRUE(stream->Write(bad));
  stream->WritesDone();
  v1::PublishResponse response;
  int answered = 0;
  while (stream->Read(&response)) ++answered;
  grpc::Status status = stream->Finish();
  EXPECT_EQ(answered, 1);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("request #1"), std::string::npos) << status.error_message();
  EXPECT_EQ(MailboxSize("alice"), 1u);
}

TEST_F(GrpcApiTest, IdempotentRetryAppendsNothing) {
  StartBroker();
  v1::PublishRequest request;
  request.set_client_id("alice");
  request.set_data("charge card");
  request.set_idempotency_key("payment-991");
  v1::PublishResponse first, second;
  ASSERT_TRUE(Publish(request, &first).ok());
  ASSERT_TRUE(Publish(request, &second).ok());
  EXPECT_EQ(first.id(), second.id());
  EXPECT_TRUE(second.duplicate());
  EXPECT_EQ(MailboxSize("alice"), 1u);
}

TEST_F(GrpcApiTest, HistoryAfterAnIdAndWithReset) {
  StartBroker();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(PublishTo("alice", "m" + std::to_string(i)));
  auto after = History("alice", ids[1]);
  ASSERT_EQ(after.messages_size(), 2);
  EXPECT_EQ(after.messages(0).id(), ids[2]);
  EXPECT_GT(after.messages(0).published_at().seconds(), 0);
  EXPECT_FALSE(after.has_reset());

  auto foreign = History("alice", "abc-1");
  EXPECT_EQ(foreign.reset().reason(), "foreign_epoch");
  EXPECT_EQ(foreign.reset().earliest_id(), ids[0]);
  EXPECT_EQ(foreign.messages_size(), 4);

  grpc::ClientContext context;
  v1::HistoryRequest malformed;
  malformed.set_client_id("alice");
  malformed.set_after_id("yesterday");
  v1::HistoryResponse response;
  EXPECT_EQ(stub_->History(&context, malformed, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcApiTest, TtlShorterThanTheMailboxIsAccepted) {
  StartBroker();
  v1::PublishRequest request;
  request.set_client_id("alice");
  request.set_data("brief");
  request.mutable_ttl()->set_seconds(60);
  v1::PublishResponse response;
  ASSERT_TRUE(Publish(request, &response).ok());
  EXPECT_EQ(MailboxSize("alice"), 1u);
}

TEST_F(GrpcApiTest, HealthIsServingForTheServerAndTheService) {
  StartBroker();
  // grpc.health.v1.HealthCheckRequest{service} and HealthCheckResponse{status: SERVING = 1}.
  for (const std::string& service : {std::string(), std::string("pushbroker.v1.Broker")}) {
    EXPECT_EQ(HealthStatus(channel_, service), 1) << service;
  }
}

TEST_F(GrpcApiTest, ReflectionListsTheBrokerService) {
  StartBroker();
  // ServerReflectionRequest{list_services: ""} (field 7), as `grpcurl list` sends.
  std::string response;
  grpc::Status status =
      RawGrpcCall(channel_, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                  std::string("\x3a\x00", 2), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_NE(response.find("pushbroker.v1.Broker"), std::string::npos);
  EXPECT_NE(response.find("grpc.health.v1.Health"), std::string::npos);
}

TEST_F(GrpcApiTest, ReflectionServesTheBrokerFileDescriptor) {
  StartBroker();
  // ServerReflectionRequest{file_containing_symbol (4): "pushbroker.v1.Broker"},
  // what `grpcurl describe` sends.
  const std::string symbol = "pushbroker.v1.Broker";
  std::string request = std::string("\x22", 1) + static_cast<char>(symbol.size()) + symbol;
  std::string response;
  grpc::Status status =
      RawGrpcCall(channel_, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                  request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // ServerReflectionResponse.file_descriptor_response (4).file_descriptor_proto (1).
  google::protobuf::UnknownFieldSet outer;
  ASSERT_TRUE(outer.ParseFromString(response));
  std::vector<google::protobuf::FileDescriptorProto> files;
  for (int i = 0; i < outer.field_count(); ++i) {
    if (outer.field(i).number() != 4) continue;
    google::protobuf::UnknownFieldSet inner;
    ASSERT_TRUE(inner.ParseFromString(outer.field(i).length_delimited()));
    for (int j = 0; j < inner.field_count(); ++j) {
      if (inner.field(j).number() != 1) continue;
      files.emplace_back();
      ASSERT_TRUE(files.back().ParseFromString(inner.field(j).length_delimited()));
    }
  }
  const google::protobuf::FileDescriptorProto* broker = nullptr;
  for (const auto& file : files) {
    if (file.name() == "pushbroker/v1/broker.proto") broker = &file;
  }
  ASSERT_NE(broker, nullptr) << "no pushbroker/v1/broker.proto among " << files.size() << " files";
  EXPECT_EQ(broker->package(), "pushbroker.v1");
  ASSERT_EQ(broker->service_size(), 1);
  std::vector<std::string> methods;
  for (const auto& method : broker->service(0).method()) methods.push_back(method.name());
  EXPECT_EQ(methods,
            (std::vector<std::string>{"Publish", "PublishStream", "PublishBatch", "Subscribe",
                                      "Unsubscribe", "GetClient", "History", "Disconnect",
                                      "DeleteClient", "IssueClientToken", "Watch"}));
}

TEST_F(GrpcApiTest, PushctlPublishesAndReads) {
  StartBroker();
  const std::string target = absl::StrCat("--target=127.0.0.1:", app_->grpc_port());
  const std::string publish =
      absl::StrCat(PUSHCTL_PATH, " ", target,
                   " publish --client_id=alice --event=greet 'hello from pushctl' > /dev/null");
  ASSERT_EQ(std::system(publish.c_str()), 0);
  auto history = History("alice");
  ASSERT_EQ(history.messages_size(), 1);
  EXPECT_EQ(history.messages(0).data(), "hello from pushctl");
  EXPECT_EQ(history.messages(0).event(), "greet");
  const std::string bad = absl::StrCat(PUSHCTL_PATH, " ", target, " get nobody 2> /dev/null");
  EXPECT_NE(std::system(bad.c_str()), 0);
}

TEST_F(GrpcApiTest, LargeMetadataWithinTheLimitIsServedAndOverItFailsOnlyItsCall) {
  StartBroker();
  // Another publisher's long stream on the same HTTP/2 connection.
  grpc::ClientContext stream_context;
  auto stream = stub_->PublishStream(&stream_context);
  v1::PublishRequest request;
  request.set_client_id("alice");
  request.set_data("before");
  v1::PublishResponse response;
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));

  auto publish_with_metadata = [&](size_t bytes) {
    grpc::ClientContext context;
    context.AddMetadata("x-trace-context", std::string(bytes, 't'));
    v1::PublishRequest one;
    one.set_client_id("bob");
    one.set_data("with metadata");
    v1::PublishResponse answer;
    return stub_->Publish(&context, one, &answer);
  };
  // Tracing headers and tokens of some KiB are ordinary (the old 8 KiB
  // default refused them).
  EXPECT_TRUE(publish_with_metadata(16 * 1024).ok());
  EXPECT_TRUE(publish_with_metadata(48 * 1024).ok());
  // Past --grpc_max_metadata_bytes the call alone fails, clearly...
  const grpc::Status refused = publish_with_metadata(256 * 1024);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("--grpc_max_metadata_bytes"), std::string::npos)
      << refused.error_message();
  // ...and the other publisher's stream goes on.
  request.set_data("after");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_FALSE(response.id().empty());
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace pushbroker::testing
