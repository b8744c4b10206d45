// SIGTERM to the real push-broker with live streams: the graceful drain.
#include <signal.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "pushbroker/v1/broker.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/raw_grpc.h"
#include "tests/support/sse_client.h"

namespace pushbroker::testing {
namespace {

TEST(DrainTest, SigtermDrainsStreamsGracefullyAndExitsInTime) {
  ChildProcess broker = ChildProcess::Spawn(
      {PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0", "--http_port=0",
       "--admin_port=0", "--retry_ms=1000", "--drain_spread=1500ms", "--shutdown_grace=6s"});
  BrokerPorts ports;
  ASSERT_TRUE(WaitForBrokerPorts(broker, &ports)) << broker.stderr_text;
  std::smatch match;
  const int grpc_port = ports.grpc;
  const int http_port = ports.http;
  const int admin_port = ports.admin;

  constexpr int kStreams = 20;
  std::vector<std::unique_ptr<SseClient>> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(SseClient::Open(http_port, absl::StrCat("/v1/events?client_id=c", i)));
    ASSERT_NE(streams.back(), nullptr);
    ASSERT_EQ(streams.back()->status(), 200);
  }

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Broker::NewStub(channel);
  ASSERT_EQ(HealthStatus(channel, "pushbroker.v1.Broker"), 1);

  const absl::Time sigterm = absl::Now();
  ASSERT_EQ(::kill(broker.pid, SIGTERM), 0);
  ASSERT_TRUE(broker.WaitFor(std::regex("\"event\":\"drain_started\""), &match, absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(100));

  // Readiness and health turn at once.
  httplib::Client admin("127.0.0.1", admin_port);
  auto ready = admin.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(HealthStatus(channel, "pushbroker.v1.Broker"), 2);
  EXPECT_EQ(HealthStatus(channel, ""), 2);

  // New streams are refused with a pointer to come back later.
  auto refused = SseClient::Open(http_port, "/v1/events?client_id=late");
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->status(), 503);
  EXPECT_FALSE(refused->header("retry-after").empty());
  EXPECT_NE(refused->ReadBody().find("draining"), std::string::npos);

  // Publishes are still accepted during the drain.
  {
    grpc::ClientContext context;
    v1::PublishRequest request;
    request.set_broadcast(true);
    request.set_data("during the drain");
    v1::PublishResponse response;
    grpc::Status status = stub->Publish(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.mailboxes(), static_cast<uint32_t>(kStreams));
  }
  stub.reset();
  channel.reset();

  // Every stream ends with a jittered retry advice, the ends spread out.
  std::vector<absl::Duration> ended_after;
  std::set<uint32_t> retries;
  for (auto& stream : streams) {
    ASSERT_TRUE(stream->WaitForEnd(absl::Seconds(6)));
    ended_after.push_back(absl::Now() - sigterm);
    ASSERT_TRUE(stream->parser().retry_ms().has_value());
    EXPECT_GE(*stream->parser().retry_ms(), 1000u);
    EXPECT_LE(*stream->parser().retry_ms(), 2000u);
    retries.insert(*stream->parser().retry_ms());
  }
  EXPECT_GT(retries.size(), 1u) << "every stream got the same retry: no jitter";
  // Streams were read in order, so the last end time bounds the spread from below.
  EXPECT_GE(*std::max_element(ended_after.begin(), ended_after.end()), absl::Milliseconds(900));

  EXPECT_EQ(broker.Wait(absl::Seconds(8)), 0);
  EXPECT_LT(absl::Now() - sigterm, absl::Seconds(7));
}

}  // namespace
}  // namespace pushbroker::testing
