// gMock matchers for absl::Status and absl::StatusOr<T> (Debian's Abseil
// ships none): `EXPECT_THAT(x, IsOk())` and
// `EXPECT_THAT(x, StatusIs(absl::StatusCode::kNotFound, HasSubstr("alice")))`.
// A failure prints the status, so no `<< x.status()` is needed.
#ifndef PUSH_BROKER_TESTS_SUPPORT_STATUS_MATCHERS_H_
#define PUSH_BROKER_TESTS_SUPPORT_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace pushbroker::testing {

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = StatusOf(arg);
  if (!status.ok()) *result_listener << "whose status is " << status;
  return status.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher, negation)) {
  const absl::Status& status = StatusOf(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code && ::testing::Matches(::testing::Matcher<std::string>(
                                      message_matcher))(std::string(status.message()));
}

MATCHER_P(StatusIs, code, "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& status = StatusOf(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code;
}

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_STATUS_MATCHERS_H_
