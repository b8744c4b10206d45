// SseStream on its own: what a publisher's Deliver and the loop's
// TakeQueued see, with no socket. The loop is constructed but never
// started, so its wake-ups only queue.
#include "http_edge/sse/sse_stream.h"

#include <memory>
#include <string>

#include "broker/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http_edge/edge_stats.h"
#include "http_edge/sse/sse_loop.h"

namespace pushbroker {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Message MessageAt(uint64_t offset, std::string data) {
  return Message{MessageId{7, offset},
                 std::make_shared<const Payload>(Payload{"", std::move(data)}),
                 absl::FromUnixSeconds(1700000000), absl::InfiniteFuture()};
}

// Everything the stream has queued, as one string of bytes.
std::string TakeAll(SseStream& stream, SseStream::Batch* batch_out = nullptr) {
  SseStream::Batch batch = stream.TakeQueued();
  std::string bytes;
  for (const OutChunk& chunk : batch.chunks) bytes += chunk.bytes;
  if (batch_out != nullptr) *batch_out = std::move(batch);
  return bytes;
}

class SseStreamTest : public ::testing::Test {
 protected:
  std::shared_ptr<SseStream> NewStream(size_t max_queued_bytes = 1 << 20) {
    return std::make_shared<SseStream>("alice", &loop_, max_queued_bytes, &memory_, clock_.Now(),
                                       slots_.TryTake().value());
  }

  ManualClock clock_;
  EdgeStats stats_;
  StreamMemory memory_{64 << 20};
  StreamSlots slots_{10};
  SseLoop loop_{SseLoopOptions{},
                [](const std::shared_ptr<SseStream>&, StreamEnd) {},
                [](const std::shared_ptr<SseStream>&, uint64_t) {},
                /*on_written=*/nullptr,
                &stats_,
                &memory_,
                &clock_};
};

TEST_F(SseStreamTest, LiveMessagesWaitForThePrimingAndGoAfterTheOpening) {
  auto stream = NewStream();
  stream->Deliver(MessageAt(3, "live"));
  EXPECT_EQ(TakeAll(*stream), "") << "nothing goes out before the opening";

  stream->Prime("OPENING", /*replayed_from=*/1, /*replayed_through=*/2, /*epoch=*/7);
  const std::string bytes = TakeAll(*stream);
  EXPECT_EQ(bytes.find("OPENING"), 0u);
  EXPECT_THAT(bytes, HasSubstr("id: 7-3\ndata: live\n"));
  EXPECT_EQ(stream->epoch(), 7u);
}

TEST_F(SseStreamTest, WhatTheReplayCoveredIsDroppedAsADuplicate) {
  auto stream = NewStream();
  stream->Deliver(MessageAt(4, "held, replayed"));
  stream->Prime("OPENING", /*replayed_from=*/1, /*replayed_through=*/5, /*epoch=*/7);
  stream->Deliver(MessageAt(5, "live, replayed"));
  stream->Deliver(MessageAt(6, "new"));
  stream->Deliver(MessageAt(6, "new again"));
  const std::string bytes = TakeAll(*stream);
  EXPECT_THAT(bytes, Not(HasSubstr("replayed")));
  EXPECT_THAT(bytes, HasSubstr("data: new\n"));
  EXPECT_THAT(bytes, Not(HasSubstr("new again")));
}

TEST_F(SseStreamTest, PastItsQueueLimitTheStreamAbortsAndHoldsNothing) {
  auto stream = NewStream(/*max_queued_bytes=*/1024);
  stream->Prime("", 0, 0, 7);
  for (uint64_t offset = 1; offset <= 20; ++offset) {
    stream->Deliver(MessageAt(offset, std::string(100, 'x')));
  }
  EXPECT_TRUE(stream->overflowed());
  SseStream::Batch batch;
  TakeAll(*stream, &batch);
  EXPECT_TRUE(batch.abort);
  EXPECT_TRUE(batch.chunks.empty());
  EXPECT_EQ(memory_.bytes(), 0u) << "an aborted stream gives its bytes back at once";
}

TEST_F(SseStreamTest, TheOpeningDoesNotCountAgainstTheQueueLimit) {
  auto stream = NewStream(/*max_queued_bytes=*/1024);
  stream->Prime(std::string(10000, 'r'), 0, 0, 7);  // a long replay
  stream->Deliver(MessageAt(1, "live"));
  EXPECT_FALSE(stream->overflowed());
}

TEST_F(SseStreamTest, CloseSendsRetryAdviceAndTheLastChunkOnce) {
  auto stream = NewStream();
  stream->Prime("", 0, 0, 7);
  stream->Close(CloseCause::kDisconnected, 4321);
  stream->Close(CloseCause::kDisconnected, 4321);
  SseStream::Batch batch;
  const std::string bytes = TakeAll(*stream, &batch);
  EXPECT_TRUE(batch.end_after);
  EXPECT_THAT(bytes, HasSubstr("retry: 4321"));
  EXPECT_EQ(bytes.find("0\r\n\r\n"), bytes.rfind("0\r\n\r\n")) << "one last chunk";
  stream->Deliver(MessageAt(1, "too late"));
  EXPECT_EQ(TakeAll(*stream), "");
}

TEST_F(SseStreamTest, TheSlotIsHeldUntilTakenOnce) {
  auto stream = NewStream();
  EXPECT_EQ(slots_.in_use(), 1u);
  StreamSlot slot = stream->TakeSlot();
  EXPECT_TRUE(slot.held());
  EXPECT_FALSE(stream->TakeSlot().held());
  slot.Release();
  EXPECT_EQ(slots_.in_use(), 0u);
}

}  // namespace
}  // namespace pushbroker
