// /metrics on the admin listener, read by a real Prometheus text parser
// (prometheus_client's, from Debian) after real traffic.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/support/broker_fixture.h"
#include "tests/support/child_process.h"

namespace pushbroker::testing {
namespace {

class MetricsTest : public BrokerFixture {
 protected:
  // Scrapes /metrics and returns it as parsed by prometheus_client.
  nlohmann::json Scrape() {
    httplib::Client admin("127.0.0.1", app_->admin_port());
    auto res = admin.Get("/metrics");
    EXPECT_TRUE(res);
    if (!res) return nullptr;
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    // One file per process: CTest runs test cases in parallel processes.
    const std::string input =
        ::testing::TempDir() + "/metrics_" + std::to_string(::getpid()) + ".txt";
    FILE* file = std::fopen(input.c_str(), "w");
    std::fwrite(res->body.data(), 1, res->body.size(), file);
    std::fclose(file);
    const CommandResult parsed =
        RunCommand(absl::StrCat("/usr/bin/python3 ", PARSE_METRICS_PATH, " < ", input));
    EXPECT_EQ(parsed.exit_status, 0) << "the parser rejected:\n" << res->body;
    return nlohmann::json::parse(parsed.output, nullptr, false);
  }

  // The value of one sample, or -1 when it is missing.
  static double Value(const nlohmann::json& metrics, const std::string& family,
                      const std::string& sample,
                      const nlohmann::json& labels = nlohmann::json::object()) {
    if (!metrics.contains(family)) return -1;
    for (const auto& s : metrics[family]["samples"]) {
      if (s[0] == sample && s[1] == labels) return s[2];
    }
    return -1;
  }
};

TEST_F(MetricsTest, ScrapeParsesAndCountsWhatHappened) {
  StartBroker([](AppOptions& options) { options.retention.max_messages = 2; });
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  for (int i = 0; i < 3; ++i) PublishTo("alice", "m" + std::to_string(i));
  ASSERT_EQ(stream->Take(3).size(), 3u);
  v1::PublishRequest broadcast;
  broadcast.set_broadcast(true);
  broadcast.set_data("all");
  v1::PublishResponse response;
  ASSERT_TRUE(Publish(broadcast, &response).ok());
  v1::ClientInfo info;
  EXPECT_FALSE(GetClient("nobody", &info).ok());
  auto reset = OpenStream("alice", {{"Last-Event-ID", "abc-1"}});
  ASSERT_EQ(reset->Next()->type, "reset");

  const nlohmann::json metrics = Scrape();
  ASSERT_TRUE(metrics.is_object());
  EXPECT_EQ(metrics["pushbroker_live_streams"]["type"], "gauge");
  EXPECT_EQ(Value(metrics, "pushbroker_live_streams", "pushbroker_live_streams"), 2);
  EXPECT_EQ(Value(metrics, "pushbroker_mailboxes", "pushbroker_mailboxes"), 1);
  EXPECT_EQ(Value(metrics, "pushbroker_mailbox_messages", "pushbroker_mailbox_messages"), 2);
  // prometheus_client names counter families without _total.
  EXPECT_EQ(metrics["pushbroker_publishes"]["type"], "counter");
  EXPECT_EQ(
      Value(metrics, "pushbroker_publishes", "pushbroker_publishes_total", {{"target", "client"}}),
      3);
  EXPECT_EQ(Value(metrics, "pushbroker_publishes", "pushbroker_publishes_total",
                  {{"target", "broadcast"}}),
            1);
  EXPECT_EQ(Value(metrics, "pushbroker_messages_delivered", "pushbroker_messages_delivered_total",
                  {{"target", "client"}}),
            3);
  EXPECT_EQ(Value(metrics, "pushbroker_messages_dropped", "pushbroker_messages_dropped_total",
                  {{"reason", "capacity"}}),
            2);
  EXPECT_EQ(
      Value(metrics, "pushbroker_resets", "pushbroker_resets_total", {{"reason", "foreign_epoch"}}),
      1);
  EXPECT_EQ(Value(metrics, "pushbroker_replays", "pushbroker_replays_total"), 1);
  EXPECT_EQ(Value(metrics, "pushbroker_grpc_requests", "pushbroker_grpc_requests_total",
                  {{"method", "Publish"}, {"code", "OK"}}),
            4);
  EXPECT_EQ(Value(metrics, "pushbroker_grpc_requests", "pushbroker_grpc_requests_total",
                  {{"method", "GetClient"}, {"code", "NOT_FOUND"}}),
            1);
  EXPECT_EQ(metrics["pushbroker_publish_to_write_seconds"]["type"], "histogram");
  EXPECT_GE(Value(metrics, "pushbroker_publish_to_write_seconds",
                  "pushbroker_publish_to_write_seconds_count"),
            3);
  EXPECT_GE(Value(metrics, "pushbroker_publish_to_write_seconds",
                  "pushbroker_publish_to_write_seconds_bucket", {{"le", "+Inf"}}),
            3);
  EXPECT_GT(Value(metrics, "process_resident_memory_bytes", "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(Value(metrics, "process_open_fds", "process_open_fds"), 3);
  EXPECT_GT(Value(metrics, "process_threads", "process_threads"), 2);
  EXPECT_GE(Value(metrics, "process_cpu_seconds", "process_cpu_seconds_total"), 0);
}

TEST_F(MetricsTest, SlowConsumersAndStreamEndsAreCounted) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  stream->CloseSocket();
  ASSERT_TRUE(WaitForStreams("alice", 0));
  const nlohmann::json metrics = Scrape();
  // A peer that hangs up right as the loop adopts its socket shows up as a
  // failed write instead; either way exactly one close is counted.
  EXPECT_EQ(Value(metrics, "pushbroker_stream_closes", "pushbroker_stream_closes_total",
                  {{"reason", "peer_closed"}}) +
                Value(metrics, "pushbroker_stream_closes", "pushbroker_stream_closes_total",
                      {{"reason", "write_failed"}}),
            1);
  EXPECT_EQ(Value(metrics, "pushbroker_slow_consumer_disconnects",
                  "pushbroker_slow_consumer_disconnects_total"),
            0);
}

}  // namespace
}  // namespace pushbroker::testing
