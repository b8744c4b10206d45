// LiveFeed: this replica's subscription to its own shard channels, one per
// partition (pb:{tag}:r:<replica>), on a connection of its own. It hands
// each notification to the AppendListener: appended messages to the local
// streams, close requests from other replicas. It keeps the feed exact: a
// gap in a channel's sequence numbers, a lost connection or an
// `sunsubscribe` closes the affected local streams with a retry advice, and
// they resume exactly from their last id; a feed silent for 10 s is probed
// through its own channel and reconnected when the probe does not come back.
// Thread-safe; the listener is called on the feed's I/O thread only.
#ifndef PUSH_BROKER_REDIS_LIVE_FEED_H_
#define PUSH_BROKER_REDIS_LIVE_FEED_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/mailbox_store.h"
#include "redis/key_slots.h"
#include "redis/redis_client.h"

namespace pushbroker::redis {

struct LiveFeedOptions {
  std::string address;
  std::string password;
  absl::Duration io_timeout = absl::Seconds(3);
  std::string replica_id;
  // The retry advice of streams closed to resynchronise.
  uint32_t resync_retry_ms = 2000;
  absl::Duration probe_after = absl::Seconds(10);  // of silence
  absl::Duration probe_timeout = absl::Seconds(2);
};

struct LiveFeedCounters {
  std::atomic<uint64_t> notifications{0};
  std::atomic<uint64_t> resyncs{0};     // partitions (or all) resynchronised
  std::atomic<uint64_t> subscribes{0};  // complete subscriptions, the first included
  std::atomic<uint64_t> probes_lost{0};
  std::atomic<uint64_t> malformed{0};
};

class LiveFeed {
 public:
  static absl::StatusOr<std::unique_ptr<LiveFeed>> Start(LiveFeedOptions options);
  LiveFeed(const LiveFeed&) = delete;
  LiveFeed& operator=(const LiveFeed&) = delete;
  ~LiveFeed();

  // Set once, before streams open; must outlive the feed.
  void SetListener(AppendListener* listener) { listener_.store(listener); }
  // Subscribed to every channel on the current connection: streams may open.
  bool live() const { return live_.load(); }
  // Called about once a second: sends a probe through `commands` when the
  // feed has been silent, and reconnects it when a probe got lost.
  void CheckLiveness(RedisClient& commands, absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  const LiveFeedCounters& counters() const { return counters_; }

 private:
  explicit LiveFeed(LiveFeedOptions options);
  // On the I/O thread.
  void Subscribe(int partition);
  void OnReady(RedisClient& client);
  void OnLost();
  void OnPush(RespValue push) ABSL_LOCKS_EXCLUDED(mu_);
  void Dispatch(int partition, absl::string_view text) ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the local streams of clients in `partition` (-1: all).
  void Resync(int partition);

  const LiveFeedOptions options_;
  std::unique_ptr<RedisClient> client_;
  std::atomic<AppendListener*> listener_{nullptr};
  std::atomic<bool> live_{false};
  LiveFeedCounters counters_;

  // The I/O thread's own.
  RedisClient* io_client_ = nullptr;  // set by the first OnReady
  int subscribed_ = 0;
  bool subscribed_before_ = false;
  std::array<uint64_t, kPartitions> last_seq_{};  // 0: none seen on this connection

  absl::Mutex mu_;
  absl::Time last_heard_ ABSL_GUARDED_BY(mu_) = absl::Now();
  uint64_t probe_nonce_ ABSL_GUARDED_BY(mu_) = 0;  // 0: no probe outstanding
  absl::Time probe_sent_ ABSL_GUARDED_BY(mu_);
  uint64_t probes_sent_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_LIVE_FEED_H_
