#include "http_edge/poll_batch.h"

#include <memory>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace pushbroker {
namespace {

Message Make(uint64_t offset, std::string event, std::string data) {
  return Message{MessageId{0xab, offset},
                 std::make_shared<const Payload>(Payload{std::move(event), std::move(data)}),
                 absl::UnixEpoch(), absl::InfiniteFuture()};
}

TEST(PollBatchTest, EncodesMessagesCursorAndNoReset) {
  PollBatch batch;
  batch.messages = {Make(3, "", "a\nb"), Make(4, "greet", "\xf0\x9f\x98\x80")};
  batch.cursor = MessageId{0xab, 4};
  auto json = nlohmann::json::parse(EncodePollBatch(batch));
  ASSERT_EQ(json["messages"].size(), 2u);
  EXPECT_EQ(json["messages"][0]["id"], "ab-3");
  EXPECT_EQ(json["messages"][0]["event"], "message");
  EXPECT_EQ(json["messages"][0]["data"], "a\nb");
  EXPECT_EQ(json["messages"][1]["event"], "greet");
  EXPECT_EQ(json["messages"][1]["data"], "\xf0\x9f\x98\x80");
  EXPECT_EQ(json["last_id"], "ab-4");
  EXPECT_TRUE(json["reset"].is_null());
  EXPECT_FALSE(json.contains("retry_ms"));
}

TEST(PollBatchTest, EncodesResetAndRetry) {
  PollBatch batch;
  batch.reset = ResetReason::kMessagesEvicted;
  batch.earliest_retained = MessageId{0xab, 7};
  batch.after = "ab-2";
  batch.cursor = MessageId{0xab, 6};
  batch.retry_ms = 900;
  auto json = nlohmann::json::parse(EncodePollBatch(batch));
  EXPECT_EQ(json["reset"]["reason"], "messages_evicted");
  EXPECT_EQ(json["reset"]["earliest_id"], "ab-7");
  EXPECT_EQ(json["reset"]["last_event_id"], "ab-2");
  EXPECT_EQ(json["retry_ms"], 900);
  EXPECT_TRUE(json["messages"].empty());
}

}  // namespace
}  // namespace pushbroker
