// The commands an operator types first, over reflection alone, as grpcurl
// runs them: list, describe every service, Health/Check and Health/Watch,
// and every Broker method called from JSON.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "nlohmann/json.hpp"
#include "tests/support/broker_fixture.h"
#include "tests/support/reflection_client.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::testing {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

using ::testing::IsSupersetOf;

class OperatorCommandsTest : public BrokerFixture {
 protected:
  // `grpcurl -plaintext -d JSON HOST SERVICE/METHOD`; fails the test on an
  // error status unless `expected` says otherwise.
  nlohmann::json Call(const std::string& service, const std::string& method,
                      const std::string& json, grpc::StatusCode expected = grpc::StatusCode::OK) {
    std::string response;
    grpc::Status status = reflection_->Call(service, method, json, &response);
    EXPECT_EQ(status.error_code(), expected)
        << service << "/" << method << ": " << status.error_message();
    return status.ok() ? nlohmann::json::parse(response) : nlohmann::json();
  }

  void SetUp() override {
    StartBroker();
    reflection_ = std::make_unique<ReflectionClient>(channel_);
  }

  std::unique_ptr<ReflectionClient> reflection_;
};

TEST_F(OperatorCommandsTest, ListAndDescribeEveryService) {
  absl::StatusOr<std::vector<std::string>> services = reflection_->ListServices();
  ASSERT_THAT(services, IsOk());
  EXPECT_THAT(*services, IsSupersetOf({"pushbroker.v1.Broker", "grpc.health.v1.Health",
                                       "grpc.reflection.v1alpha.ServerReflection"}));
  for (const std::string& service : *services) {
    auto described = reflection_->Describe(service);
    EXPECT_THAT(described, IsOk()) << service << ": " << described.status();
  }
  auto health = reflection_->Describe("grpc.health.v1.Health");
  ASSERT_THAT(health, IsOk());
  EXPECT_NE((*health)->FindMethodByName("Check"), nullptr);
  EXPECT_NE((*health)->FindMethodByName("Watch"), nullptr);
}

TEST_F(OperatorCommandsTest, HealthCheckAndWatch) {
  EXPECT_EQ(Call("grpc.health.v1.Health", "Check", "{}")["status"], "SERVING");
  EXPECT_EQ(
      Call("grpc.health.v1.Health", "Check", R"({"service":"pushbroker.v1.Broker"})")["status"],
      "SERVING");
  EXPECT_EQ(Call("grpc.health.v1.Health", "Watch", "{}")["status"], "SERVING");
  Call("grpc.health.v1.Health", "Check", R"({"service":"no.such.Service"})",
       grpc::StatusCode::NOT_FOUND);
}

TEST_F(OperatorCommandsTest, EveryBrokerMethodFromJson) {
  const std::string broker = "pushbroker.v1.Broker";
  const nlohmann::json published =
      Call(broker, "Publish", R"({"client_id":"alice","data":"hi","event":"greet"})");
  ASSERT_TRUE(published.contains("id")) << published;
  const nlohmann::json streamed =
      Call(broker, "PublishStream", R"({"client_id":"alice","data":"again"})");
  EXPECT_TRUE(streamed.contains("id")) << streamed;
  Call(broker, "Subscribe", R"({"client_id":"alice","topic":"room-1"})");
  const nlohmann::json room = Call(broker, "Publish", R"({"topic":"room-1","data":"hello room"})");
  EXPECT_EQ(room["mailboxes"], 1);
  const nlohmann::json client = Call(broker, "GetClient", R"({"client_id":"alice"})");
  EXPECT_EQ(client["topics"], nlohmann::json::array({"room-1"}));
  const nlohmann::json history = Call(broker, "History", R"({"client_id":"alice","limit":10})");
  ASSERT_EQ(history["messages"].size(), 3u) << history;
  EXPECT_EQ(history["messages"][0]["data"], "hi");
  EXPECT_EQ(history["messages"][0]["id"], published["id"]);
  // The README's grpcurl line for a batch: one good request, one refused alone.
  const nlohmann::json batch =
      Call(broker, "PublishBatch",
           R"({"requests":[{"client_id":"alice","data":"one"},{"client_id":"a b","data":"x"}]})");
  ASSERT_EQ(batch["results"].size(), 2u) << batch;
  EXPECT_TRUE(batch["results"][0]["response"].contains("id")) << batch;
  EXPECT_EQ(batch["results"][1]["error"]["code"], 3) << batch;
  Call(broker, "Unsubscribe", R"({"client_id":"alice","topic":"room-1"})");
  Call(broker, "Disconnect", R"({"client_id":"alice","retry_ms":1000})");
  Call(broker, "IssueClientToken", R"({"client_id":"alice"})",
       grpc::StatusCode::FAILED_PRECONDITION);
  Call(broker, "DeleteClient", R"({"client_id":"alice"})");
  Call(broker, "GetClient", R"({"client_id":"alice"})", grpc::StatusCode::NOT_FOUND);
  // Bad input is a clear error, as grpcurl would show it.
  Call(broker, "Publish", R"({"client_id":"a b","data":"x"})", grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace pushbroker::testing
