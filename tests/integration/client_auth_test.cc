// Client tokens against the real server: the attack table, each with its
// clear error and the mailbox unchanged; expiry mid-stream; IssueClientToken;
// rotation by editing the secrets file.
#include <fstream>
#include <string>
#include <vector>

#include "auth/client_token.h"
#include "httplib.h"
#include "tests/support/broker_fixture.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::testing {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

const char kSecretA[] = "secret-a-0123456789abcdef0123456789abcdef";
const char kSecretB[] = "secret-b-0123456789abcdef0123456789abcdef";

class ClientAuthTest : public BrokerFixture {
 protected:
  void SetUp() override {
    secret_file_ = ::testing::TempDir() + "/client_secrets_" + std::to_string(::getpid());
    WriteSecrets({kSecretA});
    StartBroker([this](AppOptions& options) {
      options.client_auth.secret_file = secret_file_;
      options.client_auth.leeway = absl::ZeroDuration();
    });
  }

  void WriteSecrets(const std::vector<std::string>& secrets) {
    std::ofstream file(secret_file_, std::ios::trunc);
    for (const std::string& secret : secrets) file << secret << "\n";
  }

  static std::string Token(const std::string& client, absl::Duration ttl,
                           const char* secret = kSecretA) {
    const absl::Time now = absl::Now();
    return SignClientToken(client, now, now + ttl, secret);
  }

  std::string secret_file_;
};

TEST_F(ClientAuthTest, AValidTokenOpensTheStreamThreeWays) {
  const std::string token = Token("alice", absl::Hours(1));
  for (const SseClient::Headers& headers :
       {SseClient::Headers{}, SseClient::Headers{{"Authorization", "Bearer " + token}},
        SseClient::Headers{{"Cookie", "theme=dark; pb_token=" + token}}}) {
    const std::string query = headers.empty() ? "&token=" + token : "";
    auto stream = OpenStream("alice", headers, query);
    ASSERT_NE(stream, nullptr);
    ASSERT_EQ(stream->status(), 200);
    ASSERT_TRUE(WaitForStreams("alice", 1));
    PublishTo("alice", "for alice");
    auto event = stream->Next();
    ASSERT_TRUE(event.has_value());
    EXPECT_EQ(event->data, "for alice");
    stream.reset();
    ASSERT_TRUE(WaitForStreams("alice", 0));
  }
}

TEST_F(ClientAuthTest, AttacksGetClearErrorsAndChangeNothing) {
  const std::string kept_id = PublishTo("alice", "kept");
  const std::string good = Token("alice", absl::Hours(1));
  const std::string payload_b64 =
      good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1);
  struct Attack {
    const char* name;
    std::string query;
    int status;
    const char* reason;
  };
  const std::vector<Attack> attacks = {
      {"no token", "", 401, "no token"},
      {"garbage", "&token=garbage", 401, "malformed"},
      {"expired", "&token=" + Token("alice", -absl::Minutes(5)), 401, "expired"},
      {"forged (other secret)", "&token=" + Token("alice", absl::Hours(1), kSecretB), 401,
       "bad signature"},
      {"alg none", "&token=eyJhbGciOiJub25lIn0." + payload_b64 + ".", 401, "HS256"},
      {"bob's token for alice", "&token=" + Token("bob", absl::Hours(1)), 403, "another client"},
  };
  for (const Attack& attack : attacks) {
    auto stream = SseClient::Open(app_->http_port(), "/v1/events?client_id=alice" + attack.query);
    ASSERT_NE(stream, nullptr) << attack.name;
    EXPECT_EQ(stream->status(), attack.status) << attack.name;
    const std::string body = stream->ReadBody();
    EXPECT_NE(body.find(attack.reason), std::string::npos) << attack.name << ": " << body;
    EXPECT_EQ(stream->header("content-type"), "application/json") << attack.name;
    // The long-poll endpoint answers the same.
    httplib::Client http("127.0.0.1", app_->http_port());
    auto poll = http.Get(("/v1/poll?timeout_ms=0&client_id=alice" + attack.query).c_str());
    ASSERT_TRUE(poll);
    EXPECT_EQ(poll->status, attack.status) << attack.name;
  }
  // Nothing was delivered or marked delivered: alice still gets her message.
  auto history = History("alice");
  ASSERT_EQ(history.messages_size(), 1);
  EXPECT_EQ(history.messages(0).id(), kept_id);
  auto stream = OpenStream("alice", {}, "&token=" + good);
  auto event = stream->Next();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data, "kept");
}

TEST_F(ClientAuthTest, AStreamEndsWhenItsTokenExpires) {
  auto stream = OpenStream("alice", {}, "&token=" + Token("alice", absl::Seconds(2)));
  ASSERT_EQ(stream->status(), 200);
  PublishTo("alice", "before expiry");
  auto first = stream->Next();
  ASSERT_TRUE(first.has_value());
  auto expired = stream->Next(absl::Seconds(6));
  ASSERT_TRUE(expired.has_value());
  EXPECT_EQ(expired->type, "token-expired");
  EXPECT_EQ(expired->last_event_id,
            first->last_event_id);  // the page resumes after its last message
  EXPECT_TRUE(stream->WaitForEnd());
  // A fresh token and the last id lose nothing.
  PublishTo("alice", "after expiry");
  auto again = OpenStream("alice", {{"Last-Event-ID", first->last_event_id}},
                          "&token=" + Token("alice", absl::Hours(1)));
  auto next = again->Next();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->data, "after expiry");
}

TEST_F(ClientAuthTest, IssueClientTokenSignsATokenTheEdgeAccepts) {
  grpc::ClientContext context;
  v1::IssueClientTokenRequest request;
  request.set_client_id("carol");
  request.mutable_ttl()->set_seconds(600);
  v1::IssueClientTokenResponse response;
  ASSERT_TRUE(stub_->IssueClientToken(&context, request, &response).ok());
  EXPECT_NEAR(response.expires_at().seconds(), absl::ToUnixSeconds(absl::Now()) + 600, 2);
  auto stream = OpenStream("carol", {{"Authorization", "Bearer " + response.token()}});
  EXPECT_EQ(stream->status(), 200);

  grpc::ClientContext too_long;
  request.mutable_ttl()->set_seconds(86400 * 2);
  EXPECT_EQ(stub_->IssueClientToken(&too_long, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ClientAuthTest, RotatingTheSecretsFileTakesEffectWithoutARestart) {
  const std::string old_token = Token("alice", absl::Hours(1), kSecretA);
  const std::string new_token = Token("alice", absl::Hours(1), kSecretB);
  EXPECT_EQ(OpenStream("alice", {}, "&token=" + new_token)->status(), 401);
  WriteSecrets({kSecretB, kSecretA});  // B signs now; A still verifies
  ASSERT_THAT(app_->ReloadSecrets(), IsOk());
  EXPECT_EQ(OpenStream("alice", {}, "&token=" + new_token)->status(), 200);
  EXPECT_EQ(OpenStream("alice", {}, "&token=" + old_token)->status(), 200);
  WriteSecrets({kSecretB});  // A retired; noticed by the file watcher
  const absl::Time deadline = absl::Now() + absl::Seconds(6);
  int status = 0;
  while (absl::Now() < deadline &&
         (status = OpenStream("alice", {}, "&token=" + old_token)->status()) != 401) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(status, 401);
  WriteSecrets({"too short"});  // a broken file keeps the secrets in force
  EXPECT_FALSE(app_->ReloadSecrets().ok());
  EXPECT_EQ(OpenStream("alice", {}, "&token=" + new_token)->status(), 200);
}

TEST(ClientAuthOpenTest, IssueClientTokenNeedsSecrets) {
  // Without --client_token_secret_file the broker runs open and cannot sign.
  auto app = BrokerApp::Start(TestAppOptions());
  ASSERT_THAT(app, IsOk());
  auto stub = v1::Broker::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*app)->grpc_port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::IssueClientTokenRequest request;
  request.set_client_id("alice");
  v1::IssueClientTokenResponse response;
  EXPECT_EQ(stub->IssueClientToken(&context, request, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  (*app)->Shutdown();
}

TEST(ClientAuthOpenTest, AnUnreadableSecretsFileStopsTheStart) {
  AppOptions options;
  options.client_auth.secret_file = "/nonexistent/secrets";
  options.log_level = LogLevel::kOff;
  EXPECT_THAT(BrokerApp::Start(options), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace pushbroker::testing
