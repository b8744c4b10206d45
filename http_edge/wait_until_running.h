// WaitUntilRunning: blocks until an httplib::Server's listener thread runs.
// httplib's stop() is a no-op before that, so stopping a server that was just
// started would be lost and its listener thread never joined.
#ifndef PUSH_BROKER_HTTP_EDGE_WAIT_UNTIL_RUNNING_H_
#define PUSH_BROKER_HTTP_EDGE_WAIT_UNTIL_RUNNING_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "httplib.h"

namespace pushbroker {

inline absl::Status WaitUntilRunning(const httplib::Server& server, absl::string_view what,
                                     absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!server.is_running()) {
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat("the ", what, " listener did not start"));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_WAIT_UNTIL_RUNNING_H_
