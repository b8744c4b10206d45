// `pushctl tail`: follows a client's SSE stream in the terminal as a browser
// would, reconnecting with Last-Event-ID after the advised retry.
#ifndef PUSH_BROKER_TOOLS_PUSHCTL_TAIL_H_
#define PUSH_BROKER_TOOLS_PUSHCTL_TAIL_H_

#include <cstddef>
#include <string>

#include "absl/time/time.h"

namespace pushbroker {

struct TailOptions {
  std::string http_base = "http://localhost:8080";  // the broker's HTTP edge
  std::string client_id;
  std::string last_event_id;  // resume after this id; empty: what is undelivered
  size_t count = 0;           // stop after this many events; 0: never
  absl::Duration timeout = absl::InfiniteDuration();  // stop after this long
};

// Prints one JSON line per event ({"id","event","data"}) on stdout and
// reconnect notes on stderr. Returns 0 when count or timeout ended it, 1 when
// the broker refused the stream for good (4xx).
int Tail(const TailOptions& options);

}  // namespace pushbroker

#endif  // PUSH_BROKER_TOOLS_PUSHCTL_TAIL_H_
