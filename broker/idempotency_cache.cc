#include "broker/idempotency_cache.h"

namespace pushbroker {

IdempotencyCache::IdempotencyCache(absl::Duration window, size_t max_keys)
    : window_(window), max_keys_(max_keys) {}

void IdempotencyCache::EvictLocked(absl::Time now) {
  while (!by_age_.empty() && (by_age_.front().first <= now || entries_.size() > max_keys_)) {
    auto it = entries_.find(by_age_.front().second);
    // A running publish keeps its entry; it is dropped when it completes.
    if (it != entries_.end() && it->second.done && it->second.expires == by_age_.front().first) {
      entries_.erase(it);
    }
    by_age_.pop_front();
  }
}

absl::StatusOr<PublishResult> IdempotencyCache::RunOnce(
    const std::string& key, absl::Time now,
    const std::function<absl::StatusOr<PublishResult>()>& publish) {
  {
    absl::MutexLock lock(&mu_);
    EvictLocked(now);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      auto settled = [this, &key]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        auto found = entries_.find(key);
        return found == entries_.end() || found->second.done;
      };
      mu_.Await(absl::Condition(&settled));
      it = entries_.find(key);
      if (it != entries_.end() && it->second.expires > now) {
        PublishResult result = it->second.result;
        result.duplicate = true;
        return result;
      }
      // The first publish failed (or expired meanwhile): this one runs.
    }
    entries_[key] = Entry{false, now + window_, {}};
  }

  absl::StatusOr<PublishResult> result = publish();

  absl::MutexLock lock(&mu_);
  if (!result.ok()) {
    entries_.erase(key);
    return result;
  }
  Entry& entry = entries_[key];
  entry.done = true;
  entry.expires = now + window_;
  entry.result = *result;
  by_age_.emplace_back(entry.expires, key);
  EvictLocked(now);
  return result;
}

size_t IdempotencyCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace pushbroker
