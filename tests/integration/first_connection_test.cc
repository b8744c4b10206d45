// A client's first connection, which has no id to resume from: over SSE it
// is given its position before any message (an id-only event), and neither
// SSE nor long-poll treats a message as received until the client confirms
// it (TCP acknowledgement of the stream's bytes, or an id sent back).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "broker/message_id.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/support/broker_fixture.h"
#include "tests/support/raw_connection.h"

namespace pushbroker::testing {
namespace {

class FirstConnectionTest : public BrokerFixture {
 protected:
  nlohmann::json Poll(const std::string& client, const std::string& after) {
    httplib::Client http("127.0.0.1", app_->http_port());
    std::string target = absl::StrCat("/v1/poll?client_id=", client, "&timeout_ms=0");
    if (!after.empty()) absl::StrAppend(&target, "&after=", after);
    auto res = http.Get(target.c_str());
    EXPECT_TRUE(res);
    if (!res) return nullptr;
    EXPECT_EQ(res->status, 200) << res->body;
    return nlohmann::json::parse(res->body);
  }

  static std::vector<std::string> Data(const nlohmann::json& batch) {
    std::vector<std::string> out;
    for (const auto& m : batch["messages"]) out.push_back(m["data"]);
    return out;
  }
};

TEST_F(FirstConnectionTest, AStreamWithoutAnIdStartsWithItsPositionAndNoEvent) {
  StartBroker();
  const std::string before = PublishTo("alice", "old");
  {
    auto first = OpenStream("alice");
    ASSERT_EQ(first->Take(1).size(), 1u);  // "old", undelivered so far
    first->CloseSocket();
  }
  ASSERT_TRUE(WaitForStreams("alice", 0));

  // Everything the first stream was written was acknowledged, so a new
  // stream without an id starts after it, and says so before any event.
  auto stream = OpenStream("alice");
  EXPECT_FALSE(stream->Next(absl::Milliseconds(300)).has_value());  // no event dispatched
  EXPECT_EQ(stream->parser().last_event_id(), before);
}

TEST_F(FirstConnectionTest, ABrokenFirstStreamResumesExactlyFromItsPrimingId) {
  StartBroker();
  auto stream = OpenStream("alice");
  ASSERT_NE(stream, nullptr);
  EXPECT_FALSE(stream->Next(absl::Milliseconds(300)).has_value());
  const std::string position = stream->parser().last_event_id();
  ASSERT_TRUE(MessageId::Parse(position).has_value()) << position;
  EXPECT_EQ(MessageId::Parse(position)->offset, 0u);

  // A message is handed to the stream; the page never reads it and the
  // connection breaks.
  const std::string lost = PublishTo("alice", "handed but never read");
  stream->CloseSocket();
  ASSERT_TRUE(WaitForStreams("alice", 0));

  // EventSource reconnects with the id it holds: the replay is exact.
  auto again = OpenStream("alice", {{"Last-Event-ID", position}});
  auto events = again->Take(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "handed but never read");
  EXPECT_EQ(events[0].last_event_id, lost);
  EXPECT_NE(events[0].type, "reset");
}

TEST_F(FirstConnectionTest, BytesThePeerNeverAcknowledgedAreNotCountedAsDelivered) {
  StartBroker();
  // A client whose receive window fills and which never reads: the bytes
  // of a large message cannot all reach it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(app_->http_port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string request = "GET /v1/events?client_id=alice HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(WaitForStreams("alice", 1));
  const std::string big(60 * 1024, 'x');
  for (int i = 0; i < 4; ++i) EXPECT_EQ(PublishToClient("alice", big).streams(), 1u);
  absl::SleepFor(absl::Milliseconds(300));
  // The connection breaks (a reset, as when a network path dies).
  linger abortive{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
  ::close(fd);
  ASSERT_TRUE(WaitForStreams("alice", 0));

  // The page comes back without an id (it never got one past the opening,
  // or it reloaded): the message it never received is still delivered.
  auto stream = OpenStream("alice");
  auto events = stream->Take(4);
  ASSERT_EQ(events.size(), 4u);
  for (const SseEvent& event : events) EXPECT_EQ(event.data.size(), big.size());
}

TEST_F(FirstConnectionTest, ALostPollAnswerIsAnsweredAgainUntilACursorConfirmsIt) {
  StartBroker();
  PublishTo("alice", "one");
  PublishTo("alice", "two");
  // The first poll's answer is lost on the way: the next poll without a
  // cursor gets the same messages again.
  const nlohmann::json lost = Poll("alice", "");
  EXPECT_EQ(Data(lost), (std::vector<std::string>{"one", "two"}));
  const nlohmann::json again = Poll("alice", "");
  EXPECT_EQ(Data(again), (std::vector<std::string>{"one", "two"}));
  // A poll that sends the cursor back confirms what the client received.
  EXPECT_TRUE(Data(Poll("alice", again["last_id"])).empty());
  EXPECT_TRUE(Data(Poll("alice", "")).empty());
  PublishTo("alice", "three");
  EXPECT_EQ(Data(Poll("alice", "")), (std::vector<std::string>{"three"}));
}

}  // namespace
}  // namespace pushbroker::testing
