#include "broker/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace pushbroker {

void RateLimiter::DropRefilledLocked(absl::Time now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - it->second.refilled));
    if (it->second.tokens + elapsed * limit_.per_second >= limit_.burst) {
      buckets_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Status RateLimiter::Take(const std::string& key, double count, absl::Time now,
                               absl::Duration* retry_after) {
  if (!enabled()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (limit_.max_keys > 0 && buckets_.size() >= limit_.max_keys && !buckets_.count(key)) {
    DropRefilledLocked(now);
    if (buckets_.size() >= limit_.max_keys) {
      if (retry_after != nullptr) *retry_after = absl::Seconds(1);
      return absl::ResourceExhaustedError(absl::StrCat(limit_.max_keys, " senders are over ",
                                                       limit_.flag, " at once; retry in 1000 ms"));
    }
  }
  auto [it, inserted] = buckets_.try_emplace(key);
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = limit_.burst;
  } else {
    const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - bucket.refilled));
    bucket.tokens = std::min(limit_.burst, bucket.tokens + elapsed * limit_.per_second);
  }
  bucket.refilled = now;
  if (bucket.tokens >= count) {
    bucket.tokens -= count;
    return absl::OkStatus();
  }
  const double wait_ms = std::ceil((count - bucket.tokens) / limit_.per_second * 1000);
  if (retry_after != nullptr) *retry_after = absl::Milliseconds(wait_ms);
  return absl::ResourceExhaustedError(
      absl::StrCat("rate over ", limit_.flag, "=", limit_.per_second, "/s (burst ", limit_.burst,
                   ") for ", limit_.per, "; retry in ", wait_ms, " ms"));
}

}  // namespace pushbroker
