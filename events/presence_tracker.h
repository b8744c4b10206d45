// PresenceTracker: counts each client's streams and polls on this process
// and says when it comes online (its first) and goes offline (its last one
// ended and `grace` passed without another), so a reconnect is not a flap.
#ifndef PUSH_BROKER_EVENTS_PRESENCE_TRACKER_H_
#define PUSH_BROKER_EVENTS_PRESENCE_TRACKER_H_

#include <array>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads; clients are spread over
// shards with a lock each. Keeps an entry only while a client has streams
// or is within its grace.
class PresenceTracker {
 public:
  explicit PresenceTracker(absl::Duration grace) : grace_(grace) {}

  // A stream opened. Returns the client's stream count now, and sets
  // `came_online` when the client was offline before it.
  size_t Opened(const std::string& client_id, bool* came_online);
  // A stream ended at `now`. Returns the client's stream count now.
  size_t Closed(const std::string& client_id, absl::Time now);
  // The clients whose grace ended by `now` with no stream: offline from now.
  std::vector<std::string> TakeOffline(absl::Time now);

 private:
  struct Presence {
    size_t streams = 0;
    absl::Time offline_at = absl::InfiniteFuture();  // when the grace ends
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Presence> clients ABSL_GUARDED_BY(mu);
    // Graces in the order they end (the grace is one constant), so a check
    // costs only the ones due; an entry whose client came back is skipped.
    std::deque<std::pair<absl::Time, std::string>> due ABSL_GUARDED_BY(mu);
  };
  static constexpr size_t kShards = 16;
  Shard& ShardFor(const std::string& client_id);

  const absl::Duration grace_;
  std::array<Shard, kShards> shards_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_EVENTS_PRESENCE_TRACKER_H_
