// Key slots as Redis Cluster computes them, and the partition tags: every
// partition's tag lands exactly on its own slot, 16·P.
#include "redis/key_slots.h"

#include <set>

#include "gtest/gtest.h"

namespace pushbroker::redis {
namespace {

TEST(KeySlotsTest, Crc16MatchesTheClusterSpecification) {
  // The check value of CRC16/XMODEM, and the example of the cluster spec.
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
  EXPECT_EQ(HashSlot("123456789"), 0x31C3 % 16384);
}

TEST(KeySlotsTest, AHashTagDecidesTheSlot) {
  EXPECT_EQ(HashSlot("{user1000}.following"), HashSlot("{user1000}.followers"));
  EXPECT_EQ(HashSlot("foo{bar}{zap}"), HashSlot("bar"));
  // An empty tag, or none closed, is no tag: the whole key counts.
  EXPECT_EQ(HashSlot("foo{}{bar}"), Crc16("foo{}{bar}") % 16384);
  EXPECT_EQ(HashSlot("foo{bar"), Crc16("foo{bar") % 16384);
}

TEST(KeySlotsTest, EveryPartitionTagLandsOnItsOwnSlot) {
  std::set<std::string> tags;
  for (int p = 0; p < kPartitions; ++p) {
    const std::string& tag = PartitionTag(p);
    ASSERT_FALSE(tag.empty()) << p;
    EXPECT_LE(tag.size(), 4u);
    EXPECT_EQ(HashSlot("pb:{" + tag + "}:h:alice"), 16 * p) << tag;
    tags.insert(tag);
  }
  EXPECT_EQ(tags.size(), static_cast<size_t>(kPartitions));
}

TEST(KeySlotsTest, ClientsSpreadOverThePartitions) {
  std::vector<int> counts(kPartitions, 0);
  for (int i = 0; i < 102400; ++i) ++counts[PartitionOf("client-" + std::to_string(i))];
  for (int count : counts) {
    EXPECT_GT(count, 40);  // 100 expected each
    EXPECT_LT(count, 170);
  }
  EXPECT_EQ(PartitionOf("alice"), PartitionOf("alice"));
}

}  // namespace
}  // namespace pushbroker::redis
