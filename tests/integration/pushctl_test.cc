// pushctl end to end against a real broker: publish from JSON and stdin,
// publish-stream, and tail following a stream across a Disconnect.
#include <sys/wait.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/support/broker_fixture.h"
#include "tests/support/child_process.h"

namespace pushbroker::testing {
namespace {

class PushctlTest : public BrokerFixture {
 protected:
  std::string Target() const { return absl::StrCat("--target=127.0.0.1:", app_->grpc_port()); }

  static std::pair<std::string, int> Run(const std::string& command) {
    CommandResult result = RunCommand(command);
    return {std::move(result.output), result.exit_status};
  }
};

TEST_F(PushctlTest, PublishFromJsonWithAnyTarget) {
  StartBroker();
  ASSERT_EQ(std::get<1>(Run(
                absl::StrCat(PUSHCTL_PATH, " ", Target(), " subscribe alice room > /dev/null"))),
            0);
  auto [out, status] =
      Run(absl::StrCat("echo '{\"topic\":\"room\",\"event\":\"note\",\"data\":\"to the "
                       "room\",\"return_ids\":true}' | ",
                       PUSHCTL_PATH, " ", Target(), " publish --json -"));
  ASSERT_EQ(status, 0) << out;
  auto response = nlohmann::json::parse(out);
  EXPECT_EQ(response["mailboxes"], 1);
  EXPECT_EQ(response["recipients"][0]["client_id"], "alice");
  auto history = History("alice");
  ASSERT_EQ(history.messages_size(), 1);
  EXPECT_EQ(history.messages(0).event(), "note");

  auto [bad_out, bad_status] = Run(
      absl::StrCat("echo '{\"topic\":' | ", PUSHCTL_PATH, " ", Target(), " publish --json - 2>&1"));
  EXPECT_EQ(bad_status, 2);
  EXPECT_NE(bad_out.find("not a PublishRequest in JSON"), std::string::npos) << bad_out;
}

TEST_F(PushctlTest, PublishStreamSendsOneMessagePerLineInOrder) {
  StartBroker();
  auto [out, status] = Run(absl::StrCat("seq 1 150 | ", PUSHCTL_PATH, " ", Target(),
                                        " publish-stream --client_id=bob 2>/dev/null"));
  ASSERT_EQ(status, 0);
  int lines = 0;
  for (char c : out) lines += c == '\n';
  EXPECT_EQ(lines, 150);
  grpc::ClientContext context;
  v1::HistoryRequest request;
  request.set_client_id("bob");
  request.set_limit(1000);
  v1::HistoryResponse history;
  ASSERT_TRUE(stub_->History(&context, request, &history).ok());
  ASSERT_EQ(history.messages_size(), 150);
  for (int i = 0; i < 150; ++i) EXPECT_EQ(history.messages(i).data(), std::to_string(i + 1));
}

TEST_F(PushctlTest, TailFollowsAcrossADisconnectWithoutLossOrDuplicates) {
  StartBroker(
      [](AppOptions& options) { options.http.retry_ms = options.grpc.default_retry_ms = 300; });
  std::string tail_output;
  std::thread tail([&] {
    tail_output =
        Run(absl::StrCat(PUSHCTL_PATH, " tail carol --http=http://127.0.0.1:", app_->http_port(),
                         " --count=3 --duration=20s 2>/dev/null"))
            .first;
  });
  ASSERT_TRUE(WaitForStreams("carol", 1));
  PublishTo("carol", "first");
  absl::SleepFor(absl::Milliseconds(200));
  grpc::ClientContext context;
  v1::DisconnectRequest disconnect;
  disconnect.set_client_id("carol");
  v1::DisconnectResponse disconnected;
  ASSERT_TRUE(stub_->Disconnect(&context, disconnect, &disconnected).ok());
  PublishTo("carol", "second\nline");  // while tail waits out its retry
  PublishTo("carol", "third", "greet");
  tail.join();

  std::vector<nlohmann::json> events;
  std::istringstream lines(tail_output);
  for (std::string line; std::getline(lines, line);) events.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(events.size(), 3u) << tail_output;
  EXPECT_EQ(events[0]["data"], "first");
  EXPECT_EQ(events[1]["data"], "second\nline");
  EXPECT_EQ(events[2]["data"], "third");
  EXPECT_EQ(events[2]["event"], "greet");
  EXPECT_NE(events[0]["id"], events[1]["id"]);
}

TEST_F(PushctlTest, TailStopsOnARefusedStream) {
  StartBroker();
  auto [out, status] =
      Run(absl::StrCat(PUSHCTL_PATH, " tail 'bad id' --http=http://127.0.0.1:", app_->http_port(),
                       " --duration=5s 2>&1"));
  EXPECT_EQ(status, 1);
  EXPECT_NE(out.find("HTTP 400"), std::string::npos) << out;
}

}  // namespace
}  // namespace pushbroker::testing

namespace pushbroker::testing {
namespace {

class PushctlWatchTest : public PushctlTest {};

TEST_F(PushctlWatchTest, WatchPrintsEventsAsJsonLinesAndPublishPrintsTheReceipt) {
  StartBroker();
  // The watcher runs in the background and stops after two events.
  CommandResult watched;
  std::thread watcher([&] {
    watched = RunCommand(absl::StrCat(PUSHCTL_PATH, " ", Target(),
                                      " watch --kinds=delivered,client_message --group=ops "
                                      "--count=2 --duration=20s"));
  });
  // Wait for the watch to be open before anything happens.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (app_->broker().events().watchers() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  auto stream = OpenStream("alice");
  ASSERT_TRUE(WaitForStreams("alice", 1));
  auto [out, status] = Run(absl::StrCat(PUSHCTL_PATH, " ", Target(),
                                        " publish --client_id=alice --wait_for=delivered "
                                        "--wait_timeout=5s hello"));
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["delivered"], 1);
  ASSERT_TRUE(app_->broker().ReceiveFromClient("alice", "vote", "blue").ok());
  watcher.join();
  ASSERT_EQ(watched.exit_status, 0) << watched.output;
  std::vector<nlohmann::json> events;
  for (absl::string_view line : absl::StrSplit(watched.output, '\n', absl::SkipEmpty())) {
    events.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(events.size(), 2u) << watched.output;
  EXPECT_EQ(events[0]["kind"], "delivered");
  EXPECT_EQ(events[0]["client_id"], "alice");
  EXPECT_EQ(events[1]["kind"], "client_message");
  EXPECT_EQ(events[1]["data"], "blue");

  auto [bad, bad_status] =
      Run(absl::StrCat(PUSHCTL_PATH, " ", Target(), " watch --kinds=teleported --count=1 2>&1"));
  EXPECT_EQ(bad_status, 1);
  EXPECT_NE(bad.find("teleported"), std::string::npos) << bad;
}

}  // namespace
}  // namespace pushbroker::testing
