#include "broker/message_id.h"

#include "gtest/gtest.h"

namespace pushbroker {
namespace {

TEST(MessageIdTest, RoundTripsThroughText) {
  const MessageId id{0xabc123, 42};
  EXPECT_EQ(id.ToString(), "abc123-42");
  EXPECT_EQ(MessageId::Parse("abc123-42"), id);
}

TEST(MessageIdTest, ParsesOffsetZeroAndLargestOffset) {
  EXPECT_EQ(MessageId::Parse("1-0"), (MessageId{1, 0}));
  EXPECT_EQ(MessageId::Parse("1-18446744073709551615"), (MessageId{1, UINT64_MAX}));
}

TEST(MessageIdTest, RejectsEverythingElse) {
  for (const char* bad :
       {"", "-", "1-", "-1", "abc", "ABC-1", "0-5", "1-2-3", "1--2", "g-1", "1-x", " 1-1", "1-1 ",
        "1-18446744073709551616", "11111111111111111-1", "1-+1", "1-123456789012345678901"}) {
    EXPECT_FALSE(MessageId::Parse(bad).has_value()) << bad;
  }
  EXPECT_FALSE(MessageId::Parse(absl::string_view("1-1\0", 4)).has_value());
}

}  // namespace
}  // namespace pushbroker
