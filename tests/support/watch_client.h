// WatchClient: a backend's side of Watch for tests: a real bidirectional
// gRPC stream whose events a reader thread collects, with confirmations
// written on request (or as each event arrives).
#ifndef PUSH_BROKER_TESTS_SUPPORT_WATCH_CLIENT_H_
#define PUSH_BROKER_TESTS_SUPPORT_WATCH_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "pushbroker/v1/broker.grpc.pb.h"

namespace pushbroker::testing {

// Safe for concurrent access from multiple threads.
class WatchClient {
 public:
  struct Options {
    bool auto_confirm = false;  // confirm each event as it arrives
    bool start_reading = true;  // false: read nothing until StartReading()
  };
  // Opens the watch with `first`; returns at once (errors show in Finish).
  static std::unique_ptr<WatchClient> Open(v1::Broker::Stub* stub, v1::WatchRequest first,
                                           Options options);
  static std::unique_ptr<WatchClient> Open(v1::Broker::Stub* stub, v1::WatchRequest first) {
    return Open(stub, std::move(first), Options{});
  }
  ~WatchClient();

  void StartReading() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until at least `count` events arrived (or the stream ended);
  // returns a copy of all so far.
  std::vector<v1::BrokerEvent> WaitFor(size_t count, absl::Duration timeout = absl::Seconds(10))
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until an event satisfies `match`; returns it, or nullopt.
  std::optional<v1::BrokerEvent> WaitForEvent(
      const std::function<bool(const v1::BrokerEvent&)>& match,
      absl::Duration timeout = absl::Seconds(10)) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<v1::BrokerEvent> events() const ABSL_LOCKS_EXCLUDED(mu_);
  bool Confirm(const std::vector<std::string>& ids) ABSL_LOCKS_EXCLUDED(write_mu_);
  // Closes the request side and returns the call's status.
  grpc::Status Finish() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for the server to end the call; returns its status.
  grpc::Status AwaitEnd(absl::Duration timeout = absl::Seconds(10)) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the call as a crashed backend would.
  void Cancel() { context_.TryCancel(); }

 private:
  explicit WatchClient(Options options) : options_(options) {}
  void ReadLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WatchRequest, v1::BrokerEvent>> stream_;
  std::thread reader_;
  absl::Mutex write_mu_;
  bool writes_done_ ABSL_GUARDED_BY(write_mu_) = false;
  mutable absl::Mutex mu_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::BrokerEvent> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_WATCH_CLIENT_H_
