// gRPC over TLS and mutual TLS, with certificates the test makes with the
// openssl CLI: a CA, a server certificate for 127.0.0.1, a client
// certificate from the same CA and one from a stranger CA.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/broker_fixture.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::testing {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/tls_" + std::to_string(::getpid()));
    const std::string d = *dir_;
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script = absl::StrCat(
        "set -e; mkdir -p ", d, "; cd ", d, ";", "openssl req -x509 ", key,
        " -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca 2>/dev/null;", "openssl req -x509 ",
        key, " -keyout other.key -out other.pem -days 1 -subj /CN=other-ca 2>/dev/null;",
        "openssl req ", key, " -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null;",
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > "
        "server.ext;",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
        "-days 1 "
        "-extfile server.ext 2>/dev/null;",
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext;", "openssl req ", key,
        " -keyout client.key -out client.csr -subj /CN=publisher 2>/dev/null;",
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem "
        "-days 1 "
        "-extfile client.ext 2>/dev/null;",
        "openssl req ", key,
        " -keyout stranger.key -out stranger.csr -subj /CN=stranger 2>/dev/null;",
        "openssl x509 -req -in stranger.csr -CA other.pem -CAkey other.key -CAcreateserial -out "
        "stranger.pem "
        "-days 1 -extfile client.ext 2>/dev/null");
    ASSERT_EQ(std::system(("bash -c \"" + script + "\"").c_str()), 0);
  }

  void Start(bool mutual) {
    AppOptions options = TestAppOptions();
    options.grpc.tls_cert = *dir_ + "/server.pem";
    options.grpc.tls_key = *dir_ + "/server.key";
    if (mutual) options.grpc.tls_client_ca = *dir_ + "/ca.pem";
    auto app = BrokerApp::Start(options);
    ASSERT_THAT(app, IsOk());
    app_ = std::move(*app);
  }

  void TearDown() override {
    if (app_) app_->Shutdown();
  }

  // Publishes over a channel with the given credentials.
  grpc::Status PublishOver(const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
    auto stub = v1::Broker::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", app_->grpc_port()), credentials));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::PublishRequest request;
    request.set_client_id("alice");
    request.set_data("over tls");
    v1::PublishResponse response;
    return stub->Publish(&context, request, &response);
  }

  static std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& client = "") {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFile(*dir_ + "/ca.pem");
    if (!client.empty()) {
      tls.pem_cert_chain = ReadFile(*dir_ + "/" + client + ".pem");
      tls.pem_private_key = ReadFile(*dir_ + "/" + client + ".key");
    }
    return grpc::SslCredentials(tls);
  }

  static std::string* dir_;
  std::unique_ptr<BrokerApp> app_;
};
std::string* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, TlsAcceptsVerifyingClientsAndRefusesPlaintext) {
  Start(/*mutual=*/false);
  EXPECT_TRUE(PublishOver(Tls()).ok());
  EXPECT_FALSE(PublishOver(grpc::InsecureChannelCredentials()).ok());
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  Start(/*mutual=*/true);
  EXPECT_TRUE(PublishOver(Tls("client")).ok());
  EXPECT_FALSE(PublishOver(Tls()).ok());            // no client certificate
  EXPECT_FALSE(PublishOver(Tls("stranger")).ok());  // signed by another CA
  EXPECT_FALSE(PublishOver(grpc::InsecureChannelCredentials()).ok());
}

TEST_F(TlsTest, PushctlSpeaksMutualTls) {
  Start(/*mutual=*/true);
  const std::string d = *dir_;
  const std::string command =
      absl::StrCat(PUSHCTL_PATH, " --target=127.0.0.1:", app_->grpc_port(), " --tls_ca=", d,
                   "/ca.pem --tls_cert=", d, "/client.pem --tls_key=", d,
                   "/client.key publish --client_id=bob hi > /dev/null 2>&1");
  EXPECT_EQ(std::system(command.c_str()), 0);
}

TEST(TlsConfigTest, BadTlsSettingsStopTheStartWithAClearError) {
  AppOptions options = TestAppOptions();
  options.grpc.tls_cert = "/nonexistent/cert.pem";
  EXPECT_THAT(BrokerApp::Start(options), StatusIs(absl::StatusCode::kInvalidArgument));  // no key
  options.grpc.tls_key = "/nonexistent/key.pem";
  auto missing = BrokerApp::Start(options);
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(missing.status().message().find("/nonexistent/cert.pem"), std::string::npos);
  AppOptions ca_only = options;
  ca_only.grpc.tls_cert.clear();
  ca_only.grpc.tls_key.clear();
  ca_only.grpc.tls_client_ca = "/x/ca.pem";
  EXPECT_THAT(BrokerApp::Start(ca_only), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace pushbroker::testing
