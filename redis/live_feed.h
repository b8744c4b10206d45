// LiveFeed: this replica's subscription to its own shard channels on one
// Redis master, one channel per partition that master serves
// (pb:{tag}:r:<replica>), on a connection of its own. It hands each
// notification to the AppendListener: appended messages to the local
// streams, close requests from other replicas. It keeps the feed exact: a
// gap in a channel's sequence numbers, a lost connection, or a partition
// that moved in (or out: `sunsubscribe`) closes the affected local streams
// with a retry advice, and they resume exactly from their last id; a feed
// silent for 10 s is probed through its own channel and reconnected when the
// probe does not come back. Thread-safe; the listener is called on the
// feed's I/O thread only, never under the feed's lock.
#ifndef PUSH_BROKER_REDIS_LIVE_FEED_H_
#define PUSH_BROKER_REDIS_LIVE_FEED_H_

#include <array>
#include <atomic>
#include <bitset>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/mailbox_store.h"
#include "redis/key_slots.h"
#include "redis/redis_client.h"

namespace pushbroker::redis {

// Counts of one feed, or of all the feeds of one store.
struct LiveFeedCounters {
  std::atomic<uint64_t> notifications{0};
  std::atomic<uint64_t> resyncs{0};     // partitions (or all) resynchronised
  std::atomic<uint64_t> subscribes{0};  // complete subscriptions, the first included
  std::atomic<uint64_t> probes_lost{0};
  std::atomic<uint64_t> malformed{0};
};

struct LiveFeedOptions {
  std::string address;
  std::string password;
  absl::Duration io_timeout = absl::Seconds(3);
  std::string replica_id;
  // The retry advice of streams closed to resynchronise.
  uint32_t resync_retry_ms = 2000;
  absl::Duration probe_after = absl::Seconds(10);  // of silence
  absl::Duration probe_timeout = absl::Seconds(2);
  // Counted here when set (the feeds of several masters share the store's);
  // else in the feed's own. Must outlive the feed.
  LiveFeedCounters* counters = nullptr;
  // A partition's channel was refused or dropped by this node (its slot
  // moved): the map of the cluster should be read again. On the I/O thread.
  std::function<void(int partition)> on_moved;
};

class LiveFeed {
 public:
  using Partitions = std::bitset<kPartitions>;

  // Subscribes nothing until Assign().
  static absl::StatusOr<std::unique_ptr<LiveFeed>> Start(LiveFeedOptions options);
  LiveFeed(const LiveFeed&) = delete;
  LiveFeed& operator=(const LiveFeed&) = delete;
  ~LiveFeed();

  // Set once, before streams open; must outlive the feed.
  void SetListener(AppendListener* listener) { listener_.store(listener); }
  // The partitions this feed subscribes: those whose slots its node
  // serves. With `resync_new`, streams of partitions it gains are closed to
  // resume once subscribed (they moved here from another node, and may have
  // missed notifications on the way).
  void Assign(const Partitions& partitions, bool resync_new) ABSL_LOCKS_EXCLUDED(mu_);
  // Subscribed to every partition assigned, on the current connection.
  bool live() const ABSL_LOCKS_EXCLUDED(mu_);
  // Subscribed to `partition` on the current connection: its streams may open.
  bool live(int partition) const ABSL_LOCKS_EXCLUDED(mu_);
  // Called about once a second: subscribes partitions that are not (a
  // refused or dropped channel), sends a probe through `commands` (a
  // connection to the same node) when the feed has been silent, and
  // reconnects it when a probe got lost.
  void CheckLiveness(RedisClient& commands, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  const LiveFeedCounters& counters() const { return *counters_; }

 private:
  explicit LiveFeed(LiveFeedOptions options);
  bool LiveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Subscribe(int partition, uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);
  // On the I/O thread.
  void OnSubscribed(int partition, uint64_t generation, const absl::StatusOr<RespValue>& reply)
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnReady(RedisClient& client) ABSL_LOCKS_EXCLUDED(mu_);
  void OnLost() ABSL_LOCKS_EXCLUDED(mu_);
  void OnPush(RespValue push) ABSL_LOCKS_EXCLUDED(mu_);
  void Dispatch(int partition, absl::string_view text) ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the local streams of clients in `partitions`.
  void Resync(const Partitions& partitions);

  const LiveFeedOptions options_;
  std::unique_ptr<RedisClient> client_;
  std::atomic<AppendListener*> listener_{nullptr};
  LiveFeedCounters own_counters_;
  LiveFeedCounters* const counters_;

  // The I/O thread's own.
  std::array<uint64_t, kPartitions> last_seq_{};  // 0: none seen since subscribing

  mutable absl::Mutex mu_;
  RedisClient* io_client_ ABSL_GUARDED_BY(mu_) = nullptr;  // set by the first OnReady
  bool ready_ ABSL_GUARDED_BY(mu_) = false;                // connected, past the handshake
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;           // +1 per connection made or lost
  uint64_t counted_generation_ ABSL_GUARDED_BY(mu_) = 0;   // the last counted in `subscribes`
  Partitions assigned_ ABSL_GUARDED_BY(mu_);
  Partitions subscribed_ ABSL_GUARDED_BY(mu_);  // on the current connection
  Partitions ever_subscribed_ ABSL_GUARDED_BY(mu_);
  Partitions resync_after_ ABSL_GUARDED_BY(mu_);  // to resynchronise once subscribed
  Partitions to_resync_ ABSL_GUARDED_BY(mu_);     // subscribed, resynchronised when all are
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;      // SSUBSCRIBEs awaiting replies
  absl::Time last_heard_ ABSL_GUARDED_BY(mu_) = absl::Now();
  uint64_t probe_nonce_ ABSL_GUARDED_BY(mu_) = 0;  // 0: no probe outstanding
  absl::Time probe_sent_ ABSL_GUARDED_BY(mu_);
  uint64_t probes_sent_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_LIVE_FEED_H_
