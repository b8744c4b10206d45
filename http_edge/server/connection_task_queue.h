// ConnectionTaskQueue: the request threads. Each task (one connection's
// requests) runs on a thread of its own, so a slow request never waits
// behind another, but threads are made only as work needs them: a few at
// once, more only when a task has waited `grow_after` with none idle. A
// connect storm of short requests therefore runs on a handful of threads,
// while long-polls (which hold theirs) still get one each, up to the cap.
// Idle threads linger briefly for the next task, and keep the default
// 8 MiB stack (httplib's std::regex recurses deeply).
#ifndef PUSH_BROKER_HTTP_EDGE_SERVER_CONNECTION_TASK_QUEUE_H_
#define PUSH_BROKER_HTTP_EDGE_SERVER_CONNECTION_TASK_QUEUE_H_

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

struct ConnectionTaskQueueOptions {
  size_t max_threads = 512;  // running tasks at once; more wait in FIFO order
  size_t eager_threads = 4;  // made without waiting, when none is idle
  // Past eager_threads, a thread is added only when the oldest task has
  // waited this long with no thread free.
  absl::Duration grow_after = absl::Milliseconds(5);
  absl::Duration linger = absl::Seconds(10);  // an idle thread's life
};

// Safe for concurrent access from multiple threads.
class ConnectionTaskQueue final : public httplib::TaskQueue {
 public:
  explicit ConnectionTaskQueue(ConnectionTaskQueueOptions options);
  ~ConnectionTaskQueue() override;

  void enqueue(std::function<void()> fn) override ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for every running and queued connection to finish.
  void shutdown() override ABSL_LOCKS_EXCLUDED(mu_);

  // Threads running or idle now (not the grower).
  size_t threads() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Task {
    std::function<void()> fn;
    absl::Time queued_at;
  };
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Adds a worker when the oldest task has waited grow_after.
  void GrowerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void SpawnLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StarvedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ConnectionTaskQueueOptions options_;

  mutable absl::Mutex mu_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::thread::id, std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> finished_ ABSL_GUARDED_BY(mu_);
  // Threads waiting for a task, or made and not yet running.
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread grower_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SERVER_CONNECTION_TASK_QUEUE_H_
