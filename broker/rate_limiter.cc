#include "broker/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace pushbroker {

absl::Status RateLimiter::Take(const std::string& key, double count, absl::Time now) {
  if (!enabled()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
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
  return absl::ResourceExhaustedError(
      absl::StrCat("publish rate over --publish_rate_per_key=", limit_.per_second, "/s (burst ",
                   limit_.burst, ") for this API key; retry in ", wait_ms, " ms"));
}

}  // namespace pushbroker
