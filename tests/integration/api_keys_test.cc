// Publisher API keys against the real gRPC server: every Broker call needs a
// listed key; health stays open for probes; keys rotate without a restart.
#include <fstream>
#include <string>

#include "tests/support/broker_fixture.h"
#include "tests/support/raw_grpc.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::testing {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

const char kKeyA[] = "publisher-a-0123456789";
const char kKeyB[] = "publisher-b-0123456789";

class ApiKeysTest : public BrokerFixture {
 protected:
  void SetUp() override {
    keys_file_ = ::testing::TempDir() + "/api_keys_" + std::to_string(::getpid());
    WriteKeys({kKeyA});
    StartBroker([this](AppOptions& options) { options.api_keys_file = keys_file_; });
  }
  void WriteKeys(const std::vector<std::string>& keys) {
    std::ofstream file(keys_file_, std::ios::trunc);
    file << "# publishers\n";
    for (const std::string& key : keys) file << key << "\n";
  }
  grpc::Status PublishWith(const std::string& authorization, const std::string& data) {
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::PublishRequest request;
    request.set_client_id("alice");
    request.set_data(data);
    v1::PublishResponse response;
    return stub_->Publish(&context, request, &response);
  }
  std::string keys_file_;
};

TEST_F(ApiKeysTest, EveryCallNeedsAListedKey) {
  for (const std::string& authorization :
       {std::string(), std::string("Bearer wrong-key-0123456789"), std::string("Basic ") + kKeyA,
        std::string(kKeyA)}) {
    grpc::Status status = PublishWith(authorization, "refused");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << authorization;
    EXPECT_FALSE(status.error_message().empty());
  }
  EXPECT_TRUE(PublishWith(std::string("Bearer ") + kKeyA, "accepted").ok());
  // Other methods and the stream are guarded too.
  grpc::ClientContext get_context;
  v1::GetClientRequest get;
  get.set_client_id("alice");
  v1::ClientInfo info;
  EXPECT_EQ(stub_->GetClient(&get_context, get, &info).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext stream_context;
  auto stream = stub_->PublishStream(&stream_context);
  v1::PublishRequest request;
  request.set_client_id("alice");
  request.set_data("refused");
  stream->Write(request);
  stream->WritesDone();
  v1::PublishResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // Only the accepted publish is in the mailbox.
  grpc::ClientContext history_context;
  history_context.AddMetadata("authorization", std::string("Bearer ") + kKeyA);
  v1::HistoryRequest history_request;
  history_request.set_client_id("alice");
  v1::HistoryResponse history;
  ASSERT_TRUE(stub_->History(&history_context, history_request, &history).ok());
  ASSERT_EQ(history.messages_size(), 1);
  EXPECT_EQ(history.messages(0).data(), "accepted");
}

TEST_F(ApiKeysTest, TheBearerSchemeIsReadAsRfc7235WritesIt) {
  // RFC 7235: the scheme in any case, then one or more spaces or tabs.
  for (const std::string& spelling :
       {std::string("Bearer  ") + kKeyA, std::string("bearer ") + kKeyA,
        std::string("BEARER   ") + kKeyA}) {
    EXPECT_TRUE(PublishWith(spelling, "accepted").ok()) << spelling;
  }
  EXPECT_EQ(PublishWith(std::string("Bearer") + kKeyA, "refused").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ApiKeysTest, HealthStaysOpenForProbes) {
  EXPECT_EQ(HealthStatus(channel_, ""), 1);
  EXPECT_EQ(HealthStatus(channel_, "pushbroker.v1.Broker"), 1);
}

TEST_F(ApiKeysTest, KeysRotateWithoutARestart) {
  EXPECT_EQ(PublishWith(std::string("Bearer ") + kKeyB, "x").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  WriteKeys({kKeyA, kKeyB});
  ASSERT_THAT(app_->ReloadSecrets(), IsOk());
  EXPECT_TRUE(PublishWith(std::string("Bearer ") + kKeyB, "x").ok());
  WriteKeys({kKeyB});  // A retired, noticed by the file watcher
  const absl::Time deadline = absl::Now() + absl::Seconds(6);
  while (absl::Now() < deadline && PublishWith(std::string("Bearer ") + kKeyA, "x").ok()) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(PublishWith(std::string("Bearer ") + kKeyA, "x").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ApiKeysTest, PushctlSendsItsKey) {
  const std::string base = absl::StrCat(PUSHCTL_PATH, " --target=127.0.0.1:", app_->grpc_port(),
                                        " publish --client_id=alice hi > /dev/null 2>&1");
  EXPECT_NE(std::system(base.c_str()), 0);
  EXPECT_EQ(std::system(absl::StrCat("PUSHCTL_API_KEY=", kKeyA, " ", base).c_str()), 0);
}

TEST(ApiKeysOpenTest, AShortKeyInTheFileStopsTheStart) {
  const std::string path = ::testing::TempDir() + "/short_keys_" + std::to_string(::getpid());
  std::ofstream(path) << "short\n";
  AppOptions options;
  options.api_keys_file = path;
  options.log_level = LogLevel::kOff;
  EXPECT_THAT(BrokerApp::Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace pushbroker::testing
