// `pushctl watch`: prints a Watch stream's events as JSON lines, confirming
// each after printing when it watches as a member of a group.
#ifndef PUSH_BROKER_TOOLS_PUSHCTL_WATCH_H_
#define PUSH_BROKER_TOOLS_PUSHCTL_WATCH_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pushbroker/v1/broker.grpc.pb.h"

namespace pushbroker {

struct WatchCommandOptions {
  std::vector<std::string> kinds;  // empty: every kind
  std::string group;
  std::string after_id;
  std::string client_id;
  size_t count = 0;                                    // stop after this many; 0: never
  absl::Duration duration = absl::InfiniteDuration();  // stop after this long
};

// Returns 0 when count or duration ended it (or the broker ended it with
// OK), 1 with the status on stderr otherwise. `prepare` adds the caller's
// metadata (API key) to the call.
int WatchEvents(v1::Broker::Stub& stub, const WatchCommandOptions& options,
                const std::function<void(grpc::ClientContext&)>& prepare);

}  // namespace pushbroker

#endif  // PUSH_BROKER_TOOLS_PUSHCTL_WATCH_H_
