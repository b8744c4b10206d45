// SseLoop over socketpair(): an adopted stream's bytes reach the peer in
// order, a socket without TCP acknowledgements counts a write as received,
// heartbeats follow the clock, and every end is reported once with its
// reason.
#include "http_edge/sse/sse_loop.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "broker/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http_edge/sse/sse_format.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Message MessageAt(uint64_t offset, std::string data) {
  return Message{MessageId{7, offset},
                 std::make_shared<const Payload>(Payload{"", std::move(data)}), absl::Now(),
                 absl::InfiniteFuture()};
}

// Hands a message over as a publish to one client does.
void Deliver(SseStream& stream, const Message& message) {
  FanoutBatch batch;
  stream.Deliver(message, batch);
}

class SseLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_ = std::make_unique<SseLoop>(
        SseLoopOptions{/*heartbeat_interval=*/absl::Seconds(15)},
        [this](const std::shared_ptr<SseStream>&, StreamEnd why) {
          absl::MutexLock lock(&mu_);
          ends_.push_back(why);
        },
        [this](const std::shared_ptr<SseStream>&, uint64_t offset) {
          absl::MutexLock lock(&mu_);
          confirmed_ = offset;
        },
        /*on_written=*/nullptr, &stats_, &memory_, &clock_);
    ASSERT_THAT(loop_->Start(), IsOk());
  }
  void TearDown() override {
    loop_->Stop();
    if (peer_ >= 0) ::close(peer_);
  }

  // A primed stream whose socket the loop owns; the test reads `peer_`.
  std::shared_ptr<SseStream> AdoptedStream(const std::string& opening) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer_ = fds[1];
    timeval timeout{5, 0};
    ::setsockopt(peer_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    auto stream = std::make_shared<SseStream>("alice", loop_.get(), 1 << 20, &memory_, clock_.Now(),
                                              StreamSlot());
    stream->Prime(opening, /*replayed_from=*/0, /*replayed_through=*/0, /*epoch=*/7);
    loop_->Adopt(stream, fds[0]);
    return stream;
  }

  // Reads from the peer until `text` has arrived (or 5 s pass).
  std::string ReadUntil(const std::string& text) {
    char buffer[4096];
    while (received_.find(text) == std::string::npos) {
      const ssize_t n = ::recv(peer_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      received_.append(buffer, n);
    }
    return received_;
  }

  std::vector<StreamEnd> WaitForEnds(size_t count) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ends_.size() >= count; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(5));
    return ends_;
  }

  ManualClock clock_;
  EdgeStats stats_;
  StreamMemory memory_{64 << 20};
  std::unique_ptr<SseLoop> loop_;
  int peer_ = -1;
  std::string received_;
  absl::Mutex mu_;
  std::vector<StreamEnd> ends_ ABSL_GUARDED_BY(mu_);
  uint64_t confirmed_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(SseLoopTest, TheOpeningThenLiveMessagesReachThePeerInOrder) {
  auto stream = AdoptedStream("OPENING");
  Deliver(*stream, MessageAt(1, "one"));
  Deliver(*stream, MessageAt(2, "two"));
  const std::string bytes = ReadUntil("data: two\n");
  EXPECT_EQ(bytes.find("OPENING"), 0u);
  EXPECT_LT(bytes.find("data: one\n"), bytes.find("data: two\n"));
}

TEST_F(SseLoopTest, ABroadcastBatchReachesEveryStreamWithItsOwnIdsAndTheSharedFrame) {
  constexpr int kStreams = 300;  // past FanoutBatch::kWakeGroup: woken in groups
  std::vector<std::shared_ptr<SseStream>> streams;
  std::vector<int> peers;
  for (int i = 0; i < kStreams; ++i) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    timeval timeout{5, 0};
    ::setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    peers.push_back(fds[1]);
    streams.push_back(std::make_shared<SseStream>(absl::StrCat("c", i), loop_.get(), 1 << 20,
                                                  &memory_, clock_.Now(), StreamSlot()));
    streams.back()->Prime("", 0, 0, /*epoch=*/100 + i);
    loop_->Adopt(streams.back(), fds[0]);
  }
  // Two broadcasts from another thread, the second a frame far larger than
  // a socket buffer (written in parts as the peers read).
  const std::string big(300000, 'b');
  std::thread publisher([&] {
    for (const std::string& data : {std::string("small"), big}) {
      auto payload = std::make_shared<const Payload>(Payload{"news", data});
      FanoutBatch batch;
      for (int i = 0; i < kStreams; ++i) {
        streams[i]->Deliver(
            Message{MessageId{static_cast<uint64_t>(100 + i), data.size() > 5 ? 2u : 1u}, payload,
                    absl::Now(), absl::InfiniteFuture()},
            batch);
      }
    }
  });
  for (int i = 0; i < kStreams; ++i) {
    const std::string expected =
        EncodeChunk(EncodeSseEvent(MessageId{static_cast<uint64_t>(100 + i), 1}.ToString(), "news",
                                   "small")) +
        EncodeChunk(
            EncodeSseEvent(MessageId{static_cast<uint64_t>(100 + i), 2}.ToString(), "news", big));
    std::string got;
    char buffer[65536];
    while (got.size() < expected.size()) {
      const ssize_t n = ::recv(peers[i], buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      got.append(buffer, n);
    }
    ASSERT_EQ(got.size(), expected.size()) << "stream " << i;
    EXPECT_TRUE(got == expected) << "stream " << i;
  }
  publisher.join();
  for (int fd : peers) ::close(fd);
}

TEST_F(SseLoopTest, WithoutTcpAcknowledgementsAWrittenEventCountsAsReceived) {
  auto stream = AdoptedStream("OPENING");
  Deliver(*stream, MessageAt(1, "one"));
  ReadUntil("data: one\n");
  absl::MutexLock lock(&mu_);
  auto confirmed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return confirmed_ == 1; };
  EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(&confirmed), absl::Seconds(5)));
}

TEST_F(SseLoopTest, AHeartbeatGoesOutWhenTheClockSaysItIsDue) {
  auto stream = AdoptedStream("OPENING");
  ReadUntil("OPENING");
  clock_.Advance(absl::Seconds(16));  // the loop looks at least once a second
  EXPECT_THAT(ReadUntil(": hb"), HasSubstr(": hb"));
}

TEST_F(SseLoopTest, APeerThatClosesEndsTheStreamOnceAsPeerClosed) {
  auto stream = AdoptedStream("OPENING");
  ReadUntil("OPENING");
  ::close(peer_);
  peer_ = -1;
  EXPECT_THAT(WaitForEnds(1), ElementsAre(StreamEnd::kPeerClosed));
}

TEST_F(SseLoopTest, AClosedStreamSendsItsLastChunkAndEndsAsServerClosed) {
  auto stream = AdoptedStream("OPENING");
  stream->Close(CloseCause::kDisconnected, 1000);
  EXPECT_THAT(ReadUntil("0\r\n\r\n"), HasSubstr("retry: 1000"));
  EXPECT_THAT(WaitForEnds(1), ElementsAre(StreamEnd::kServerClosed));
}

TEST_F(SseLoopTest, StoppingEndsEveryStreamAsShutdown) {
  auto stream = AdoptedStream("OPENING");
  ReadUntil("OPENING");
  loop_->Stop();
  EXPECT_THAT(WaitForEnds(1), ElementsAre(StreamEnd::kLoopStopped));
  EXPECT_THAT(ReadUntil("0\r\n\r\n"), HasSubstr("0\r\n\r\n"));
}

}  // namespace
}  // namespace pushbroker
