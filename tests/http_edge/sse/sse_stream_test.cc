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
#include "http_edge/sse/sse_format.h"
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

// Hands a message over as a publish to one client does.
void Deliver(SseStream& stream, const Message& message) {
  FanoutBatch batch;
  stream.Deliver(message, batch);
}

// The bytes of these chunks, parts joined.
std::string BytesOf(const std::vector<OutChunk>& chunks) {
  std::string bytes;
  for (const OutChunk& chunk : chunks) {
    absl::string_view parts[3];
    const int n = chunk.Parts(parts);
    for (int i = 0; i < n; ++i) bytes.append(parts[i].data(), parts[i].size());
  }
  return bytes;
}

// Everything the stream has queued, as one string of bytes.
std::string TakeAll(SseStream& stream, SseStream::Batch* batch_out = nullptr) {
  SseStream::Batch batch;
  stream.TakeQueued(batch);
  const std::string bytes = BytesOf(batch.chunks);
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
  Deliver(*stream, MessageAt(3, "live"));
  EXPECT_EQ(TakeAll(*stream), "") << "nothing goes out before the opening";

  stream->Prime("OPENING", /*replayed_from=*/1, /*replayed_through=*/2, /*epoch=*/7);
  const std::string bytes = TakeAll(*stream);
  EXPECT_EQ(bytes.find("OPENING"), 0u);
  EXPECT_THAT(bytes, HasSubstr("id: 7-3\ndata: live\n"));
  EXPECT_EQ(stream->epoch(), 7u);
}

TEST_F(SseStreamTest, WhatTheReplayCoveredIsDroppedAsADuplicate) {
  auto stream = NewStream();
  Deliver(*stream, MessageAt(4, "held, replayed"));
  stream->Prime("OPENING", /*replayed_from=*/1, /*replayed_through=*/5, /*epoch=*/7);
  Deliver(*stream, MessageAt(5, "live, replayed"));
  Deliver(*stream, MessageAt(6, "new"));
  Deliver(*stream, MessageAt(6, "new again"));
  const std::string bytes = TakeAll(*stream);
  EXPECT_THAT(bytes, Not(HasSubstr("replayed")));
  EXPECT_THAT(bytes, HasSubstr("data: new\n"));
  EXPECT_THAT(bytes, Not(HasSubstr("new again")));
}

TEST_F(SseStreamTest, StreamsOfOneBatchShareTheMessagesFrameAndDifferInTheirIds) {
  auto first = NewStream();
  auto second = NewStream();
  first->Prime("", 0, 0, 7);
  second->Prime("", 0, 0, 9);
  TakeAll(*first);
  TakeAll(*second);
  auto payload = std::make_shared<const Payload>(Payload{"news", std::string(500, 'z')});
  {
    FanoutBatch batch;
    first->Deliver(Message{MessageId{7, 1}, payload, clock_.Now(), absl::InfiniteFuture()}, batch);
    second->Deliver(Message{MessageId{9, 1}, payload, clock_.Now(), absl::InfiniteFuture()}, batch);
  }
  SseStream::Batch one;
  SseStream::Batch two;
  first->TakeQueued(one);
  second->TakeQueued(two);
  ASSERT_EQ(one.chunks.size(), 1u);
  ASSERT_EQ(two.chunks.size(), 1u);
  EXPECT_EQ(one.chunks[0].shared.get(), two.chunks[0].shared.get()) << "encoded once";
  EXPECT_EQ(BytesOf(one.chunks), EncodeChunk(EncodeSseEvent("7-1", "news", std::string(500, 'z'))));
  EXPECT_EQ(BytesOf(two.chunks), EncodeChunk(EncodeSseEvent("9-1", "news", std::string(500, 'z'))));
}

TEST_F(SseStreamTest, PastItsQueueLimitTheStreamAbortsAndHoldsNothing) {
  auto stream = NewStream(/*max_queued_bytes=*/1024);
  stream->Prime("", 0, 0, 7);
  for (uint64_t offset = 1; offset <= 20; ++offset) {
    Deliver(*stream, MessageAt(offset, std::string(100, 'x')));
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
  Deliver(*stream, MessageAt(1, "live"));
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
  Deliver(*stream, MessageAt(1, "too late"));
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
