#include "events/presence_tracker.h"

#include "absl/hash/hash.h"

namespace pushbroker {

PresenceTracker::Shard& PresenceTracker::ShardFor(const std::string& client_id) {
  return shards_[absl::Hash<std::string>()(client_id) % kShards];
}

size_t PresenceTracker::Opened(const std::string& client_id, bool* came_online) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto [it, inserted] = shard.clients.try_emplace(client_id);
  // Within the grace the client never went offline, so it does not come
  // online again.
  *came_online = inserted;
  it->second.offline_at = absl::InfiniteFuture();
  return ++it->second.streams;
}

size_t PresenceTracker::Closed(const std::string& client_id, absl::Time now) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.clients.find(client_id);
  if (it == shard.clients.end() || it->second.streams == 0) return 0;
  if (--it->second.streams == 0) {
    it->second.offline_at = now + grace_;
    shard.due.emplace_back(it->second.offline_at, client_id);
  }
  return it->second.streams;
}

std::vector<std::string> PresenceTracker::TakeOffline(absl::Time now) {
  std::vector<std::string> offline;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    while (!shard.due.empty() && shard.due.front().first <= now) {
      auto it = shard.clients.find(shard.due.front().second);
      if (it != shard.clients.end() && it->second.streams == 0 &&
          it->second.offline_at == shard.due.front().first) {
        offline.push_back(it->first);
        shard.clients.erase(it);
      }
      shard.due.pop_front();
    }
  }
  return offline;
}

}  // namespace pushbroker
