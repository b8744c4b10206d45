// IdempotencyCache: remembers the result of a publish by its idempotency key
// for a window, so a retried publish appends nothing and answers the same.
#ifndef PUSH_BROKER_BROKER_IDEMPOTENCY_CACHE_H_
#define PUSH_BROKER_BROKER_IDEMPOTENCY_CACHE_H_

#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/publish.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads. A second caller with a
// key whose first publish is still running waits for it rather than
// publishing twice. Holds at most `max_keys` keys; past that the oldest key
// is forgotten early.
class IdempotencyCache {
 public:
  IdempotencyCache(absl::Duration window, size_t max_keys);

  // Runs `publish` unless `key` was seen within the window, in which case the
  // first result comes back with `duplicate` set. A failed publish is not
  // remembered, so its retry runs again.
  absl::StatusOr<PublishResult> RunOnce(
      const std::string& key, absl::Time now,
      const std::function<absl::StatusOr<PublishResult>()>& publish) ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    bool done = false;
    absl::Time expires;
    PublishResult result;
  };

  void EvictLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration window_;
  const size_t max_keys_;

  mutable absl::Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<absl::Time, std::string>> by_age_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_IDEMPOTENCY_CACHE_H_
