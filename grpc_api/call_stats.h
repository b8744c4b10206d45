// CallStats: finished pushbroker.v1.Broker calls, by method and status code.
#ifndef PUSH_BROKER_GRPC_API_CALL_STATS_H_
#define PUSH_BROKER_GRPC_API_CALL_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads.
class CallStats {
 public:
  void Record(absl::string_view method, grpc::StatusCode code) ABSL_LOCKS_EXCLUDED(mu_);
  // (method, code name) -> count.
  std::map<std::pair<std::string, std::string>, uint64_t> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> counts_ ABSL_GUARDED_BY(mu_);
};

// "OK", "INVALID_ARGUMENT", ... as gRPC names them.
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace pushbroker

#endif  // PUSH_BROKER_GRPC_API_CALL_STATS_H_
