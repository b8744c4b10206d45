// EventWatcher: one Watch call of the load tool, read on its own thread;
// counts the events it receives and, as a group member, confirms them in
// batches. Shares an id set with the other members of its run, to count
// events seen twice.
#ifndef PUSH_BROKER_BENCH_LOAD_EVENT_WATCHER_H_
#define PUSH_BROKER_BENCH_LOAD_EVENT_WATCHER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "pushbroker/v1/broker.grpc.pb.h"

namespace pushbroker::bench {

// Ids seen by any watcher of one run. Safe for concurrent access from
// multiple threads.
class SeenEvents {
 public:
  // False when `id` was seen before.
  bool Insert(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return ids_.insert(id).second;
  }

 private:
  absl::Mutex mu_;
  std::unordered_set<std::string> ids_ ABSL_GUARDED_BY(mu_);
};

// Start() and Stop() from one thread; the counters from any.
class EventWatcher {
 public:
  EventWatcher(std::shared_ptr<grpc::Channel> channel, std::vector<std::string> kinds,
               std::string group, SeenEvents* seen);
  ~EventWatcher() { Stop(); }
  void Start();
  void Stop();

  uint64_t received() const { return received_.load(); }
  uint64_t duplicates() const { return duplicates_.load(); }

 private:
  void Run();

  std::unique_ptr<v1::Broker::Stub> stub_;
  const std::vector<std::string> kinds_;
  const std::string group_;
  SeenEvents* const seen_;
  grpc::ClientContext context_;
  std::thread thread_;
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> duplicates_{0};
};

}  // namespace pushbroker::bench

#endif  // PUSH_BROKER_BENCH_LOAD_EVENT_WATCHER_H_
