// ConnectionTaskQueue: cpp-httplib's TaskQueue that runs each connection on a
// thread of its own, so a slow request never waits behind another. Threads
// are made on demand up to a cap, linger briefly for the next connection,
// and keep the default 8 MiB stack (httplib's std::regex recurses deeply).
#ifndef PUSH_BROKER_HTTP_EDGE_CONNECTION_TASK_QUEUE_H_
#define PUSH_BROKER_HTTP_EDGE_CONNECTION_TASK_QUEUE_H_

#include <deque>
#include <functional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "httplib.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads. Past `max_threads`
// running connections, further ones wait in FIFO order for a free thread.
class ConnectionTaskQueue final : public httplib::TaskQueue {
 public:
  explicit ConnectionTaskQueue(size_t max_threads, absl::Duration linger = absl::Seconds(10));
  ~ConnectionTaskQueue() override;

  void enqueue(std::function<void()> fn) override ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for every running and queued connection to finish.
  void shutdown() override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_threads_;
  const absl::Duration linger_;

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::thread::id, std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> finished_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_CONNECTION_TASK_QUEUE_H_
