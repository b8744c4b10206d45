// Publisher: the benchmark's gRPC side. Single calls for scenario set-up,
// and three load generators: unary Publish with many calls in flight (the
// callback API), PublishBatch the same way, and PublishStream over several
// streams, each with a writer and a reader thread. Safe for concurrent
// access from multiple threads.
#ifndef PUSH_BROKER_BENCH_LOAD_PUBLISHER_H_
#define PUSH_BROKER_BENCH_LOAD_PUBLISHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pushbroker/v1/broker.grpc.pb.h"

namespace pushbroker::bench {

struct LoadResult {
  uint64_t acknowledged = 0;  // publishes the broker answered OK
  uint64_t failed = 0;
  absl::Duration elapsed;
  double per_second() const {
    return static_cast<double>(acknowledged) / absl::ToDoubleSeconds(elapsed);
  }
};

// Fills the n-th request of a load run.
using RequestMaker = std::function<void(uint64_t n, v1::PublishRequest* request)>;

class Publisher {
 public:
  explicit Publisher(const std::string& target);

  absl::Status Publish(const v1::PublishRequest& request, v1::PublishResponse* response = nullptr);
  absl::Status Broadcast(const std::string& data);
  absl::Status Disconnect(const std::string& client_id, uint32_t retry_ms);
  // Round trip of a cheap call, for responsiveness under load.
  absl::StatusOr<absl::Duration> TimeGetClient(const std::string& client_id);

  // Unary Publish with `in_flight` calls outstanding, until `count` are sent
  // or `duration` passes.
  LoadResult RunUnary(const RequestMaker& make, size_t in_flight, uint64_t count,
                      absl::Duration duration);
  // PublishBatch calls of `batch` requests each, `in_flight` calls
  // outstanding, until `count` requests are sent or `duration` passes. A
  // request refused inside a batch counts as failed.
  LoadResult RunBatches(const RequestMaker& make, size_t batch, size_t in_flight, uint64_t count,
                        absl::Duration duration);
  // PublishStream over `streams` streams, until `count` or `duration`, with
  // at most `window` requests per stream written but not yet answered.
  LoadResult RunStreams(const RequestMaker& make, size_t streams, uint64_t count,
                        absl::Duration duration, size_t window = 256);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Broker::Stub> stub_;
};

}  // namespace pushbroker::bench

#endif  // PUSH_BROKER_BENCH_LOAD_PUBLISHER_H_
