#include "broker/rate_limiter.h"

#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

const absl::Time kStart = absl::FromUnixSeconds(1700000000);

TEST(RateLimiterTest, UnlimitedByDefault) {
  RateLimiter limiter(RateLimit{});
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(limiter.Take("k", 1, kStart).ok());
}

TEST(RateLimiterTest, ABurstThenTheSteadyRatePerKey) {
  RateLimiter limiter(RateLimit{10, 3});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take("a", 1, kStart).ok());
  absl::Status refused = limiter.Take("a", 1, kStart);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_NE(refused.message().find("retry in 100 ms"), std::string::npos) << refused.message();
  // Another key has its own bucket.
  EXPECT_TRUE(limiter.Take("b", 1, kStart).ok());
  // 10/s: one token back after 100 ms, never more than the burst.
  EXPECT_TRUE(limiter.Take("a", 1, kStart + absl::Milliseconds(100)).ok());
  EXPECT_FALSE(limiter.Take("a", 1, kStart + absl::Milliseconds(150)).ok());
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take("a", 1, kStart + absl::Hours(1)).ok());
  EXPECT_FALSE(limiter.Take("a", 1, kStart + absl::Hours(1)).ok());
}

}  // namespace
}  // namespace pushbroker
