#include "http_edge/connection_task_queue.h"

namespace pushbroker {

ConnectionTaskQueue::ConnectionTaskQueue(size_t max_threads, absl::Duration linger)
    : max_threads_(max_threads == 0 ? 1 : max_threads), linger_(linger) {}

ConnectionTaskQueue::~ConnectionTaskQueue() { shutdown(); }

void ConnectionTaskQueue::ReapLocked() {
  for (const std::thread::id& id : finished_) {
    auto it = threads_.find(id);
    if (it == threads_.end()) continue;
    it->second.join();  // it has left WorkerLoop already
    threads_.erase(it);
  }
  finished_.clear();
}

void ConnectionTaskQueue::enqueue(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  ReapLocked();
  tasks_.push_back(std::move(fn));
  if (idle_ >= tasks_.size() || threads_.size() >= max_threads_) return;
  std::thread worker([this] { WorkerLoop(); });
  const std::thread::id id = worker.get_id();
  threads_.emplace(id, std::move(worker));
}

void ConnectionTaskQueue::WorkerLoop() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      ++idle_;
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !tasks_.empty() || shutting_down_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&has_work), linger_);
      --idle_;
      if (tasks_.empty()) {
        finished_.push_back(std::this_thread::get_id());
        return;
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

void ConnectionTaskQueue::shutdown() {
  std::unordered_map<std::thread::id, std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    // Workers drain the queue before they leave.
    threads.swap(threads_);
    finished_.clear();
  }
  for (auto& [id, thread] : threads) thread.join();
}

}  // namespace pushbroker
