// The RESP codec: commands as arrays of bulk strings (binary-safe), and
// replies read back whole however the bytes are split.
#include "redis/resp.h"

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace pushbroker::redis {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

TEST(RespTest, CommandsAreArraysOfBulkStrings) {
  EXPECT_EQ(EncodeCommand({"SET", "k", std::string("a\0\r\nb", 5)}),
            std::string("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\0\r\nb\r\n", 31));
  EXPECT_EQ(EncodeCommand({"PING"}), "*1\r\n$4\r\nPING\r\n");
}

TEST(RespTest, EveryReplyTypeReadsBackByteByByte) {
  const std::string bytes =
      "+OK\r\n-MOVED 3999 127.0.0.1:6381\r\n:42\r\n$5\r\nhe\r\no\r\n$-1\r\n"
      "*2\r\n*1\r\n:1\r\n$0\r\n\r\n";
  RespReader reader;
  std::vector<RespValue> replies;
  for (char byte : bytes) {
    reader.Feed(absl::string_view(&byte, 1));
    absl::StatusOr<std::optional<RespValue>> next = reader.Next();
    ASSERT_THAT(next, IsOk());
    if (next->has_value()) replies.push_back(**next);
  }
  ASSERT_EQ(replies.size(), 6u);
  EXPECT_EQ(replies[0].type, RespValue::Type::kStatus);
  EXPECT_EQ(replies[0].text, "OK");
  EXPECT_TRUE(replies[1].is_error());
  EXPECT_EQ(replies[1].error_kind(), "MOVED");
  EXPECT_EQ(replies[2].integer, 42);
  EXPECT_EQ(replies[3].text, "he\r\no");
  EXPECT_EQ(replies[4].type, RespValue::Type::kNil);
  ASSERT_EQ(replies[5].elements.size(), 2u);
  EXPECT_EQ(replies[5].elements[0].elements[0].integer, 1);
  EXPECT_EQ(replies[5].elements[1].text, "");
}

TEST(RespTest, BytesThatAreNotRespAreDataLoss) {
  RespReader reader;
  reader.Feed("?what\r\n");
  EXPECT_THAT(reader.Next(), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace pushbroker::redis
