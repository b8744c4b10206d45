#include "broker/replay.h"

#include "gtest/gtest.h"

namespace pushbroker {
namespace {

// A mailbox in epoch 0xe that has assigned offsets 1..10 and retains 4..10.
constexpr MailboxPosition kPosition{0xe, 4, 11};

TEST(ReplayTest, ContinuesRightAfterARetainedId) {
  ReplayStart start = ResolveReplay(kPosition, "e-6");
  EXPECT_EQ(start.from_offset, 7u);
  EXPECT_FALSE(start.reset.has_value());
}

TEST(ReplayTest, TheIdsOwnMessageMayBeGone) {
  ReplayStart start = ResolveReplay(kPosition, "e-3");
  EXPECT_EQ(start.from_offset, 4u);
  EXPECT_FALSE(start.reset.has_value());
}

TEST(ReplayTest, AnIdAtTheEndReplaysNothingWithoutReset) {
  ReplayStart start = ResolveReplay(kPosition, "e-10");
  EXPECT_EQ(start.from_offset, 11u);
  EXPECT_FALSE(start.reset.has_value());
}

TEST(ReplayTest, EvictedMessagesAfterTheIdYieldAReset) {
  ReplayStart start = ResolveReplay(kPosition, "e-2");
  EXPECT_EQ(start.reset, ResetReason::kMessagesEvicted);
  EXPECT_EQ(start.from_offset, 4u);
}

TEST(ReplayTest, ForeignAheadAndMalformedIdsYieldAReset) {
  EXPECT_EQ(ResolveReplay(kPosition, "f-6").reset, ResetReason::kForeignEpoch);
  EXPECT_EQ(ResolveReplay(kPosition, "e-11").reset, ResetReason::kAheadOfMailbox);
  EXPECT_EQ(ResolveReplay(kPosition, "garbage").reset, ResetReason::kMalformedId);
  EXPECT_EQ(ResolveReplay(kPosition, "garbage").from_offset, 4u);
}

TEST(ReplayTest, EmptyNewMailboxAcceptsOffsetZeroOfItsEpoch) {
  const MailboxPosition fresh{0x9, 1, 1};
  EXPECT_FALSE(ResolveReplay(fresh, "9-0").reset.has_value());
  EXPECT_EQ(ResolveReplay(fresh, "9-1").reset, ResetReason::kAheadOfMailbox);
}

}  // namespace
}  // namespace pushbroker
