#include "http_edge/server/connection_task_queue.h"

#include <algorithm>

namespace pushbroker {

ConnectionTaskQueue::ConnectionTaskQueue(ConnectionTaskQueueOptions options)
    : options_([&] {
        options.max_threads = std::max<size_t>(1, options.max_threads);
        options.eager_threads = std::clamp<size_t>(options.eager_threads, 1, options.max_threads);
        return options;
      }()),
      grower_([this] { GrowerLoop(); }) {}

ConnectionTaskQueue::~ConnectionTaskQueue() { shutdown(); }

size_t ConnectionTaskQueue::threads() const {
  absl::MutexLock lock(&mu_);
  return threads_.size() - finished_.size();
}

void ConnectionTaskQueue::ReapLocked() {
  for (const std::thread::id& id : finished_) {
    auto it = threads_.find(id);
    if (it == threads_.end()) continue;
    it->second.join();  // it has left WorkerLoop already
    threads_.erase(it);
  }
  finished_.clear();
}

void ConnectionTaskQueue::SpawnLocked() {
  // A new thread counts as idle from now, not from when it first runs:
  // otherwise a thread slow to start looks like no thread at all, and the
  // grower makes another for the same task.
  ++idle_;
  std::thread worker([this] { WorkerLoop(); });
  const std::thread::id id = worker.get_id();
  threads_.emplace(id, std::move(worker));
}

bool ConnectionTaskQueue::StarvedLocked() const {
  return tasks_.size() > idle_ && threads_.size() - finished_.size() < options_.max_threads;
}

void ConnectionTaskQueue::enqueue(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  ReapLocked();
  tasks_.push_back(Task{std::move(fn), absl::Now()});
  // An idle thread takes it; below the eager count a thread is made at once;
  // past it, the grower decides once the task has waited.
  if (StarvedLocked() && threads_.size() < options_.eager_threads) SpawnLocked();
}

void ConnectionTaskQueue::GrowerLoop() {
  absl::MutexLock lock(&mu_);
  while (!shutting_down_) {
    auto starved_or_stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return shutting_down_ || StarvedLocked();
    };
    mu_.Await(absl::Condition(&starved_or_stopping));
    if (shutting_down_) break;
    const absl::Duration waited = absl::Now() - tasks_.front().queued_at;
    if (waited < options_.grow_after) {
      // Look again when the oldest task is due, unless work moves first.
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutting_down_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.grow_after - waited);
      continue;
    }
    ReapLocked();
    SpawnLocked();
    // One thread per grow_after at most: a burst of short tasks is absorbed
    // by the threads freeing up, not by a thread per task.
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutting_down_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.grow_after);
  }
}

void ConnectionTaskQueue::WorkerLoop() {
  bool counted_idle = true;  // SpawnLocked counted this thread idle
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      if (!counted_idle) ++idle_;
      counted_idle = false;
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !tasks_.empty() || shutting_down_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&has_work), options_.linger);
      --idle_;
      if (tasks_.empty()) {
        finished_.push_back(std::this_thread::get_id());
        return;
      }
      task = std::move(tasks_.front().fn);
      tasks_.pop_front();
    }
    task();
  }
}

void ConnectionTaskQueue::shutdown() {
  std::unordered_map<std::thread::id, std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_ && !grower_.joinable() && threads_.empty()) return;
    shutting_down_ = true;
    // Workers drain the queue before they leave; make sure there is one.
    ReapLocked();
    if (!tasks_.empty() && threads_.empty()) SpawnLocked();
    threads.swap(threads_);
    finished_.clear();
  }
  if (grower_.joinable()) grower_.join();
  for (auto& [id, thread] : threads) thread.join();
}

}  // namespace pushbroker
