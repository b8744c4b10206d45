// publish_wire.proto must read every pushbroker.v1.PublishRequest exactly.
#include "grpc_api/publish_wire.pb.h"
#include "gtest/gtest.h"
#include "pushbroker/v1/broker.pb.h"

namespace pushbroker {
namespace {

TEST(PublishWireTest, EveryPublicFieldHasATwinWithTheSameNumberAndName) {
  const auto* public_message = v1::PublishRequest::descriptor();
  const auto* wire_message = internal::PublishRequestWire::descriptor();
  ASSERT_EQ(public_message->field_count(), wire_message->field_count());
  for (int i = 0; i < public_message->field_count(); ++i) {
    const auto* field = public_message->field(i);
    const auto* twin = wire_message->FindFieldByNumber(field->number());
    ASSERT_NE(twin, nullptr) << field->name();
    EXPECT_EQ(twin->name(), field->name());
    EXPECT_EQ(twin->is_repeated(), field->is_repeated()) << field->name();
    EXPECT_EQ(twin->containing_oneof() != nullptr, field->containing_oneof() != nullptr);
  }
}

TEST(PublishWireTest, ABatchIsReadAsRepeatedWireRequests) {
  const auto* field = v1::PublishBatchRequest::descriptor()->FindFieldByName("requests");
  const auto* twin = internal::PublishBatchRequestWire::descriptor()->FindFieldByName("requests");
  ASSERT_NE(field, nullptr);
  ASSERT_NE(twin, nullptr);
  EXPECT_EQ(twin->number(), field->number());
  EXPECT_TRUE(twin->is_repeated() && field->is_repeated());
  EXPECT_EQ(v1::PublishBatchRequest::descriptor()->field_count(),
            internal::PublishBatchRequestWire::descriptor()->field_count());
}

TEST(PublishWireTest, ReadsAFullRequestBackFieldByField) {
  v1::PublishRequest request;
  request.mutable_clients()->add_ids("alice");
  request.mutable_clients()->add_ids("bob");
  request.set_event("greet");
  request.set_data("hi\nthere");
  request.set_idempotency_key("k-1");
  request.mutable_ttl()->set_seconds(30);
  request.set_return_ids(true);

  internal::PublishRequestWire wire;
  ASSERT_TRUE(wire.ParseFromString(request.SerializeAsString()));
  ASSERT_EQ(wire.target_case(), internal::PublishRequestWire::kClients);
  EXPECT_EQ(wire.clients().ids(1), "bob");
  EXPECT_EQ(wire.event(), "greet");
  EXPECT_EQ(wire.data(), "hi\nthere");
  EXPECT_EQ(wire.idempotency_key(), "k-1");
  EXPECT_EQ(wire.ttl().seconds(), 30);
  EXPECT_TRUE(wire.return_ids());

  request.set_topic("room");
  ASSERT_TRUE(wire.ParseFromString(request.SerializeAsString()));
  EXPECT_EQ(wire.topic(), "room");
  request.set_broadcast(true);
  ASSERT_TRUE(wire.ParseFromString(request.SerializeAsString()));
  EXPECT_TRUE(wire.broadcast());
}

}  // namespace
}  // namespace pushbroker
