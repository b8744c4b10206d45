// The real push-broker executable as an operator runs it: flags, the start
// line, a publish seen on the SSE stream, SIGTERM, and a bad flag.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <regex>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "pushbroker/v1/broker.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/raw_grpc.h"
#include "tests/support/sse_client.h"

namespace pushbroker::testing {
namespace {

TEST(BinaryTest, StartsServesAndStopsCleanlyOnSigterm) {
  ChildProcess broker = ChildProcess::Spawn({PUSH_BROKER_PATH, "--bind_address=127.0.0.1",
                                             "--grpc_port=0", "--http_port=0", "--admin_port=0",
                                             "--retry_ms=2500", "--drain_spread=0s"});
  BrokerPorts ports;
  ASSERT_TRUE(WaitForBrokerPorts(broker, &ports)) << broker.stderr_text;
  const int grpc_port = ports.grpc;
  const int http_port = ports.http;
  const int admin_port = ports.admin;

  v1::PublishResponse response;
  {
    // Scoped: an idle sync channel reads the server's GOAWAY only when
    // gRPC's backup poller runs (every 5 s), which would hold the exit below.
    auto stub = v1::Broker::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port),
                                                        grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    v1::PublishRequest request;
    request.set_client_id("alice");
    request.set_data("from the real binary");
    ASSERT_TRUE(stub->Publish(&context, request, &response).ok());
  }

  auto stream = SseClient::Open(http_port, "/v1/events?client_id=alice");
  ASSERT_NE(stream, nullptr);
  auto event = stream->Next();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data, "from the real binary");
  EXPECT_EQ(event->last_event_id, response.id());

  // The operator's view of the same: readiness and a metrics scrape.
  httplib::Client admin("127.0.0.1", admin_port);
  auto ready = admin.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto metrics = admin.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("pushbroker_publishes_total{target=\"client\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("pushbroker_live_streams 1\n"), std::string::npos);

  ASSERT_EQ(::kill(broker.pid, SIGTERM), 0);
  EXPECT_TRUE(stream->WaitForEnd());
  ASSERT_TRUE(stream->parser().retry_ms().has_value());
  EXPECT_GE(*stream->parser().retry_ms(), 2500u);
  EXPECT_EQ(broker.Wait(absl::Seconds(15)), 0);
}

TEST(BinaryTest, ABadFlagValueIsNamedAndExitsNonZero) {
  ChildProcess broker = ChildProcess::Spawn({PUSH_BROKER_PATH, "--http_port=70000"});
  std::smatch match;
  EXPECT_TRUE(
      broker.WaitFor(std::regex("--http_port=70000 is not a port"), &match, absl::Seconds(10)))
      << broker.stderr_text;
  EXPECT_EQ(broker.Wait(absl::Seconds(10)), 2);
}

TEST(BinaryTest, BadStoreFlagsAreNamedAndExitNonZero) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--store=disk"}, "--store='disk': must be memory or redis"},
      {{"--store=redis"}, "--store=redis needs --redis_addrs"},
      {{"--store=redis", "--redis_addrs=127.0.0.1:7000,nocolon"}, "'nocolon' is not host:port"},
      {{"--store=redis", "--redis_addrs=127.0.0.1:1", "--replica_id=a b"},
       "--replica_id 'a b' must be"},
      {{"--store=redis", "--redis_addrs=127.0.0.1:1", "--redis_password_file=/nonexistent"},
       "--redis_password_file='/nonexistent' cannot be read"},
      {{"--store=redis", "--redis_addrs=nocolon"}, "'nocolon' is not host:port"}};
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> args = {PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0",
                                     "--http_port=0", "--admin_port=0"};
    args.insert(args.end(), flags.begin(), flags.end());
    ChildProcess broker = ChildProcess::Spawn(args);
    std::smatch match;
    EXPECT_TRUE(broker.WaitFor(std::regex(message, std::regex::basic), &match, absl::Seconds(10)))
        << message << "\n"
        << broker.stderr_text;
    EXPECT_NE(broker.Wait(absl::Seconds(10)), 0) << message;
  }
}

TEST(BinaryTest, FlagsComeFromTheEnvironmentAndTheCommandLineWins) {
  ChildProcess broker = ChildProcess::Spawn(
      {PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0", "--admin_port=0",
       "--retry_ms=4444"},
      {"PUSH_BROKER_HTTP_PORT=0", "PUSH_BROKER_RETRY_MS=1111", "PUSH_BROKER_HEARTBEAT_MS=150"});
  std::smatch match;
  ASSERT_TRUE(broker.WaitFor(std::regex("\"http_port\":(\\d+)"), &match, absl::Seconds(10)))
      << broker.stderr_text;
  auto stream = SseClient::Open(std::stoi(match[1]), "/v1/events?client_id=alice");
  ASSERT_NE(stream, nullptr);
  EXPECT_FALSE(stream->Next(absl::Milliseconds(600)).has_value());
  EXPECT_EQ(stream->parser().retry_ms(), 4444u);  // the command line beat the environment
  EXPECT_GE(stream->parser().comments(), 2u);     // heartbeat_ms came from the environment
}

TEST(BinaryTest, LogsAreOneJsonObjectPerLine) {
  ChildProcess broker =
      ChildProcess::Spawn({PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0",
                           "--http_port=0", "--admin_port=0", "--drain_spread=0s"});
  std::smatch match;
  ASSERT_TRUE(broker.WaitFor(std::regex("\"http_port\":(\\d+)"), &match, absl::Seconds(10)));
  {
    auto stream = SseClient::Open(std::stoi(match[1]), "/v1/events?client_id=logged");
    ASSERT_NE(stream, nullptr);
    ASSERT_TRUE(broker.WaitFor(std::regex("stream_opened"), &match, absl::Seconds(5)));
  }
  ASSERT_TRUE(broker.WaitFor(std::regex("stream_closed.*\n"), &match, absl::Seconds(5)));
  ASSERT_EQ(::kill(broker.pid, SIGTERM), 0);
  ASSERT_EQ(broker.Wait(absl::Seconds(10)), 0);
  broker.WaitFor(std::regex("\"event\":\"stopped\".*\n"), &match, absl::Seconds(2));

  std::vector<nlohmann::json> lines;
  std::istringstream text(broker.stderr_text);
  for (std::string line; std::getline(text, line);) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << "not a JSON object: " << line;
    ASSERT_TRUE(parsed.contains("ts") && parsed.contains("level") && parsed.contains("event"))
        << line;
    lines.push_back(parsed);
  }
  auto find = [&lines](const std::string& event) -> const nlohmann::json* {
    for (const auto& line : lines) {
      if (line["event"] == event) return &line;
    }
    return nullptr;
  };
  ASSERT_NE(find("start"), nullptr);
  EXPECT_EQ((*find("start"))["store"], "memory");
  EXPECT_EQ((*find("start"))["mailbox_max_messages"], 1000);
  ASSERT_NE(find("stream_opened"), nullptr);
  EXPECT_EQ((*find("stream_opened"))["client_id"], "logged");
  ASSERT_NE(find("stream_closed"), nullptr);
  EXPECT_EQ((*find("stream_closed"))["reason"], "peer_closed");
  EXPECT_NE(find("drain_started"), nullptr);
  EXPECT_NE(find("stopped"), nullptr);
}

TEST(BinaryTest, LogLevelWarnKeepsInfoOut) {
  ChildProcess broker =
      ChildProcess::Spawn({PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0",
                           "--http_port=0", "--admin_port=0", "--log_level=warn"});
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_EQ(::kill(broker.pid, SIGTERM), 0);
  EXPECT_EQ(broker.Wait(absl::Seconds(10)), 0);
  std::smatch match;
  EXPECT_FALSE(broker.WaitFor(std::regex("\"level\":\"info\""), &match, absl::Milliseconds(200)));
}

TEST(BinaryTest, ReflectionCanBeTurnedOff) {
  ChildProcess broker =
      ChildProcess::Spawn({PUSH_BROKER_PATH, "--bind_address=127.0.0.1", "--grpc_port=0",
                           "--http_port=0", "--admin_port=0", "--reflection=false"});
  std::smatch match;
  ASSERT_TRUE(broker.WaitFor(std::regex("\"grpc_port\":(\\d+)"), &match, absl::Seconds(10)));
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", match[1].str()),
                                     grpc::InsecureChannelCredentials());
  std::string response;
  grpc::Status status =
      RawGrpcCall(channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                  std::string("\x3a\x00", 2), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(HealthStatus(channel, ""), 1);  // probes still work
}

TEST(BinaryTest, ABadEnvironmentValueIsNamed) {
  ChildProcess broker =
      ChildProcess::Spawn({PUSH_BROKER_PATH}, {"PUSH_BROKER_MAX_CONNECTIONS=lots"});
  std::smatch match;
  EXPECT_TRUE(
      broker.WaitFor(std::regex("PUSH_BROKER_MAX_CONNECTIONS='lots'"), &match, absl::Seconds(10)))
      << broker.stderr_text;
  EXPECT_EQ(broker.Wait(absl::Seconds(10)), 2);
}

TEST(BinaryTest, HelpListsEachProgramsOwnFlags) {
  // absl's --help exits 1 after printing; what matters is what it prints.
  const CommandResult broker = RunCommand(absl::StrCat(PUSH_BROKER_PATH, " --help 2>&1"));
  EXPECT_NE(broker.output.find("--max_request_body_bytes"), std::string::npos) << broker.output;
  EXPECT_NE(broker.output.find("PUSH_BROKER_<FLAG>"), std::string::npos);
  EXPECT_EQ(broker.output.find("No flags matched"), std::string::npos);
  const CommandResult pushctl = RunCommand(absl::StrCat(PUSHCTL_PATH, " --help 2>&1"));
  EXPECT_NE(pushctl.output.find("--target"), std::string::npos) << pushctl.output;
  EXPECT_NE(pushctl.output.find("publish-stream"), std::string::npos);
  EXPECT_EQ(pushctl.output.find("No flags matched"), std::string::npos);
}

}  // namespace
}  // namespace pushbroker::testing
