// MessageRing: order, growth, shrinking, and that a popped message lets go
// of its payload at once.
#include "broker/message_ring.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace pushbroker {
namespace {

Message At(uint64_t offset, std::shared_ptr<const Payload> payload = nullptr) {
  return Message{MessageId{1, offset}, payload ? payload : std::make_shared<const Payload>(),
                 absl::UnixEpoch(), absl::InfiniteFuture()};
}

TEST(MessageRingTest, EmptyHoldsNoMemory) {
  MessageRing ring;
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.AllocatedBytes(), 0u);
  ring.push_back(At(1));
  EXPECT_EQ(ring.capacity(), 1u);
  ring.pop_front();
  EXPECT_EQ(ring.AllocatedBytes(), 0u);
}

TEST(MessageRingTest, KeepsOffsetOrderAcrossWrapAndGrowth) {
  MessageRing ring;
  uint64_t next = 1;
  uint64_t oldest = 1;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 7; ++i) ring.push_back(At(next++));
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(ring.front().id.offset, oldest++);
      ring.pop_front();
    }
    for (size_t i = 0; i < ring.size(); ++i) ASSERT_EQ(ring[i].id.offset, oldest + i);
  }
  EXPECT_EQ(ring.size(), 100u);
  EXPECT_GE(ring.capacity(), 100u);
  EXPECT_LE(ring.capacity(), 256u);
}

TEST(MessageRingTest, ShrinksWhenAQuarterFull) {
  MessageRing ring;
  for (uint64_t i = 1; i <= 1024; ++i) ring.push_back(At(i));
  EXPECT_EQ(ring.capacity(), 1024u);
  while (ring.size() > 10) ring.pop_front();
  EXPECT_LE(ring.capacity(), 64u);
  EXPECT_EQ(ring.front().id.offset, 1015u);
  EXPECT_EQ(ring[9].id.offset, 1024u);
}

TEST(MessageRingTest, APoppedMessageReleasesItsPayload) {
  auto payload = std::make_shared<const Payload>(Payload{"", std::string(1000, 'p')});
  MessageRing ring;
  ring.push_back(At(1, payload));
  ring.push_back(At(2));
  EXPECT_EQ(payload.use_count(), 2);
  ring.pop_front();
  EXPECT_EQ(payload.use_count(), 1);
}

}  // namespace
}  // namespace pushbroker
