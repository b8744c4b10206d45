// BrokerFixture: starts a real BrokerApp on ephemeral 127.0.0.1 ports and
// gives a test a gRPC stub on a real channel to it.
#ifndef PUSH_BROKER_TESTS_SUPPORT_BROKER_FIXTURE_H_
#define PUSH_BROKER_TESTS_SUPPORT_BROKER_FIXTURE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "app/broker_app.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "pushbroker/v1/broker.grpc.pb.h"
#include "tests/support/sse_client.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::testing {

// Options for a broker under test: loopback only, ephemeral ports, quick
// drain, quiet logs.
inline AppOptions TestAppOptions() {
  AppOptions options;
  options.grpc.bind_address = options.http.bind_address = options.admin.bind_address = "127.0.0.1";
  options.grpc.port = options.http.port = options.admin.port = 0;
  options.http.retry_ms = 1500;
  options.drain_spread = absl::ZeroDuration();  // tests end fast; the drain has its own test
  options.log_level = LogLevel::kWarn;
  return options;
}

class BrokerFixture : public ::testing::Test {
 protected:
  // Starts the broker; `tweak` may change the options first.
  void StartBroker(const std::function<void(AppOptions&)>& tweak = {}) {
    AppOptions options = TestAppOptions();
    if (tweak) tweak(options);
    auto app = BrokerApp::Start(options);
    ASSERT_THAT(app, IsOk());
    app_ = std::move(*app);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", app_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Broker::NewStub(channel_);
  }

  void TearDown() override {
    if (app_) app_->Shutdown();
  }

  grpc::Status Publish(const v1::PublishRequest& request, v1::PublishResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->Publish(&context, request, response);
  }

  // Publishes `data` to one client and returns the whole response.
  v1::PublishResponse PublishToClient(const std::string& client, const std::string& data,
                                      const std::string& event = "") {
    v1::PublishRequest request;
    request.set_client_id(client);
    request.set_data(data);
    request.set_event(event);
    v1::PublishResponse response;
    grpc::Status status = Publish(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Publishes `data` to one client and returns the message id.
  std::string PublishTo(const std::string& client, const std::string& data,
                        const std::string& event = "") {
    return PublishToClient(client, data, event).id();
  }

  v1::HistoryResponse History(const std::string& client, const std::string& after = "") {
    grpc::ClientContext context;
    v1::HistoryRequest request;
    request.set_client_id(client);
    request.set_after_id(after);
    v1::HistoryResponse response;
    grpc::Status status = stub_->History(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status GetClient(const std::string& client, v1::ClientInfo* info) {
    grpc::ClientContext context;
    v1::GetClientRequest request;
    request.set_client_id(client);
    return stub_->GetClient(&context, request, info);
  }

  std::unique_ptr<SseClient> OpenStream(const std::string& client,
                                        const SseClient::Headers& headers = {},
                                        const std::string& extra_query = "") {
    auto stream = SseClient::Open(
        app_->http_port(), absl::StrCat("/v1/events?client_id=", client, extra_query), headers);
    EXPECT_NE(stream, nullptr);
    return stream;
  }

  // Waits until `client` has `streams` live streams (the hand-off is async).
  bool WaitForStreams(const std::string& client, uint32_t streams,
                      absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      v1::ClientInfo info;
      if (GetClient(client, &info).ok() && info.streams() == streams) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  // The edge still opens a stream and delivers to it; returns how long the
  // stream took to open.
  absl::Duration ExpectStillServing(const std::string& client) {
    const absl::Time start = absl::Now();
    auto stream = OpenStream(client);
    const absl::Duration opened_in = absl::Now() - start;
    EXPECT_EQ(stream->status(), 200);
    PublishTo(client, "still serving");
    auto event = stream->Next();
    EXPECT_TRUE(event.has_value());
    if (event.has_value()) {
      EXPECT_EQ(event->data, "still serving");
    }
    return opened_in;
  }

  std::unique_ptr<BrokerApp> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Broker::Stub> stub_;
};

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_BROKER_FIXTURE_H_
