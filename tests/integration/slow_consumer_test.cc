// Streams whose peers cannot keep up: the broker's memory stays bounded, the
// stream is cut, other clients are unaffected, and nothing is lost.
#include <string>
#include <vector>

#include "tests/support/broker_fixture.h"

namespace pushbroker::testing {
namespace {

class SlowConsumerTest : public BrokerFixture {};

TEST_F(SlowConsumerTest, ANonReadingStreamIsCutAndLosesNothing) {
  StartBroker([](AppOptions& options) { options.http.max_stream_queue_bytes = 256 * 1024; });
  auto stuck = OpenStream("stuck");  // never reads from here on
  auto healthy = OpenStream("healthy");
  ASSERT_TRUE(WaitForStreams("stuck", 1));
  ASSERT_TRUE(WaitForStreams("healthy", 1));

  // Far more than the loopback socket buffers and the 256 KiB cap together.
  const std::string big(60 * 1024, 'x');
  std::string last_id;
  bool cut = false;
  for (int i = 0; i < 600 && !cut; ++i) {
    last_id = PublishTo("stuck", big + std::to_string(i));
    v1::ClientInfo info;
    cut = GetClient("stuck", &info).ok() && info.streams() == 0;
  }
  ASSERT_TRUE(cut) << "the stream was never cut";

  // Others are still served (how fast is bench/'s business, not a test's:
  // a loaded machine must not fail this).
  PublishTo("healthy", "still served");
  auto event = healthy->Next(absl::Seconds(30));
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->data, "still served");

  // The mailbox kept everything: what the stuck client got, plus a
  // reconnect after its last id, is every message exactly once. The cut
  // stream ends, so reading it to its end waits for nothing more.
  std::vector<std::string> received;
  while (auto e = stuck->Next(absl::Seconds(30))) received.push_back(e->last_event_id);
  EXPECT_TRUE(stuck->ended() || stuck->WaitForEnd(absl::Seconds(1)));
  const std::string resume_after = received.empty() ? "" : received.back();
  auto again = OpenStream("stuck", resume_after.empty()
                                       ? SseClient::Headers{}
                                       : SseClient::Headers{{"Last-Event-ID", resume_after}});
  std::string seen_last;
  size_t replayed = 0;
  while (auto e = again->Next(absl::Seconds(30))) {
    ASSERT_NE(e->type, "reset");
    seen_last = e->last_event_id;
    ++replayed;
    if (seen_last == last_id) break;
  }
  EXPECT_EQ(seen_last, last_id);
  EXPECT_GT(replayed, 0u);
}

TEST_F(SlowConsumerTest, ALargeReplayIsNotMistakenForASlowConsumer) {
  StartBroker([](AppOptions& options) {
    options.http.max_stream_queue_bytes = 64 * 1024;
    options.retention.max_bytes = 8 << 20;  // the whole backlog stays
  });
  const std::string chunk(16 * 1024, 'r');
  for (int i = 0; i < 200; ++i) PublishTo("alice", chunk);  // 3.2 MB waiting offline
  auto stream = OpenStream("alice");
  PublishTo("alice", "live after the backlog");
  auto events = stream->Take(201, absl::Seconds(10));
  ASSERT_EQ(events.size(), 201u);
  EXPECT_EQ(events.back().data, "live after the backlog");
}

TEST_F(SlowConsumerTest, StreamsThatStopReadingAreCutPastTheirSharedBudget) {
  StartBroker([](AppOptions& options) {
    options.http.max_stream_queue_bytes = 8 << 20;        // each alone could hold 8 MiB
    options.http.stream_queue_budget_bytes = 1 << 20;     // all together: 1 MiB
    options.http.stream_socket_buffer_bytes = 16 * 1024;  // little hides in the kernel
  });
  constexpr int kStuck = 8;
  std::vector<std::unique_ptr<SseClient>> stuck;
  for (int i = 0; i < kStuck; ++i) {
    stuck.push_back(OpenStream("stuck-" + std::to_string(i)));  // never read from here on
    ASSERT_TRUE(WaitForStreams("stuck-" + std::to_string(i), 1));
  }
  auto healthy = OpenStream("healthy");
  ASSERT_TRUE(WaitForStreams("healthy", 1));
  const std::string big(60 * 1024, 'x');
  // Up to 3 MiB each, far past the shared budget, unless cut before.
  for (int round = 0; round < 50; ++round) {
    bool all_cut = true;
    for (int i = 0; i < kStuck; ++i) {
      const std::string client = "stuck-" + std::to_string(i);
      v1::ClientInfo info;
      if (GetClient(client, &info).ok() && info.streams() == 0) continue;
      all_cut = false;
      PublishTo(client, big);
    }
    PublishTo("healthy", "round " + std::to_string(round));
    if (all_cut) break;
  }
  for (int i = 0; i < kStuck; ++i) {
    EXPECT_TRUE(WaitForStreams("stuck-" + std::to_string(i), 0, absl::Seconds(10))) << i;
  }
  // The reading stream kept everything, in order.
  std::vector<SseEvent> events = healthy->Take(1, absl::Seconds(10));
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].data, "round 0");
  EXPECT_TRUE(WaitForStreams("healthy", 1));
  // What the cut streams held is released.
  EXPECT_LT(app_->http_edge().stream_queue_bytes(), 256u * 1024);
}

}  // namespace
}  // namespace pushbroker::testing
