// RateLimiter: a token bucket per key (publishers by API key), refilled at a
// steady rate up to a burst. Pure logic over a caller's clock, no threads.
#ifndef PUSH_BROKER_BROKER_RATE_LIMITER_H_
#define PUSH_BROKER_BROKER_RATE_LIMITER_H_

#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pushbroker {

struct RateLimit {
  double per_second = 0;  // 0: unlimited
  double burst = 0;       // the most taken at once after a quiet spell
  // How refusals name the limit and whose it is.
  std::string flag = "--publish_rate_per_key";
  std::string per = "this API key";
  // Past this many keys, buckets that have refilled (as good as new) are
  // dropped; if none has, a new key is refused. 0: no bound.
  size_t max_keys = 0;
};

// Safe for concurrent access from multiple threads. Keeps one bucket per key
// it has seen; keys come from a short, operator-made list.
class RateLimiter {
 public:
  explicit RateLimiter(RateLimit limit) : limit_(limit) {}

  bool enabled() const { return limit_.per_second > 0; }
  // Takes `count` tokens from `key`'s bucket, or RESOURCE_EXHAUSTED (taking
  // none) when it holds fewer; the message says when to retry.
  // `retry_after`, when given, is set to how long until `count` would fit.
  absl::Status Take(const std::string& key, double count, absl::Time now,
                    absl::Duration* retry_after = nullptr) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };
  // Drops the buckets that are full again at `now`.
  void DropRefilledLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RateLimit limit_;
  absl::Mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_RATE_LIMITER_H_
