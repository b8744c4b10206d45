#include "grpc_api/call_stats.h"

namespace pushbroker {

const char* StatusCodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "UNKNOWN";
}

void CallStats::Record(absl::string_view method, grpc::StatusCode code) {
  absl::MutexLock lock(&mu_);
  ++counts_[{std::string(method), static_cast<int>(code)}];
}

std::map<std::pair<std::string, std::string>, uint64_t> CallStats::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::map<std::pair<std::string, std::string>, uint64_t> out;
  for (const auto& [key, count] : counts_) {
    out[{key.first, StatusCodeName(static_cast<grpc::StatusCode>(key.second))}] = count;
  }
  return out;
}

}  // namespace pushbroker
