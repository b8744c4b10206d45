#include "broker/validation.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

const ValidationLimits kLimits;

TEST(ValidationTest, ClientIds) {
  EXPECT_TRUE(ValidateClientId("alice", kLimits).ok());
  EXPECT_TRUE(ValidateClientId("user:42@tenant-a.eu_1", kLimits).ok());
  EXPECT_THAT(ValidateClientId("", kLimits), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateClientId("a b", kLimits), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateClientId("a/b", kLimits), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateClientId("a\nb", kLimits), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateClientId("caf\xc3\xa9", kLimits),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(ValidateClientId(std::string(128, 'a'), kLimits).ok());
  EXPECT_EQ(ValidateClientId(std::string(129, 'a'), kLimits).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, EventTypesRefuseLineBreaksAndNul) {
  EXPECT_TRUE(ValidateEventType("", kLimits).ok());
  EXPECT_TRUE(ValidateEventType("chat.message", kLimits).ok());
  for (absl::string_view bad : {absl::string_view("a\nid: 9"), absl::string_view("a\rb"),
                                absl::string_view("a\0b", 3), absl::string_view("\xff")}) {
    absl::Status status = ValidateEventType(bad, kLimits);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ValidationTest, DataMustBeUtf8WithinTheLimit) {
  ValidationLimits small;
  small.max_message_bytes = 8;
  EXPECT_TRUE(ValidateData("line1\nl2", small).ok());
  EXPECT_THAT(ValidateData("123456789", small), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateData("\xc3", kLimits), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ValidationTest, Utf8Rules) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80"));  // CJK and emoji
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));                                  // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));                              // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));                          // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe4\xbd"));                                  // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));                                      // stray continuation
}

}  // namespace
}  // namespace pushbroker
