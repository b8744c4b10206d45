// RedisMailboxStore: the MailboxStore shared by every replica of the broker,
// on one Redis 7 server or a Redis Cluster. Each write runs as one pb1
// Function call per
// partition (redis/functions.lua) on the master serving the partition's
// slot (RedisRouter), so ids, trims, idempotency and routing are atomic per
// mailbox wherever the publish came from; live messages reach the replica
// holding a stream over its sharded pub/sub channels, one LiveFeed per
// master. docs/redis.md has the design and the failure semantics.
#ifndef PUSH_BROKER_REDIS_REDIS_MAILBOX_STORE_H_
#define PUSH_BROKER_REDIS_REDIS_MAILBOX_STORE_H_

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "broker/clock.h"
#include "broker/mailbox_store.h"
#include "metrics/histogram.h"
#include "redis/key_slots.h"
#include "redis/live_feed.h"
#include "redis/redis_client.h"
#include "redis/redis_router.h"

namespace pushbroker::redis {

struct RedisStoreOptions {
  // "host:port" of the Redis server, or a comma-separated list of nodes of
  // one Redis Cluster (any of them: the others are found).
  std::string address;
  std::string password;  // empty: no AUTH
  absl::Duration io_timeout = absl::Seconds(3);
  // The incarnation fence: a mailbox written under another Redis process
  // (a restart or failover that may have lost writes) takes a new epoch.
  bool fence = true;
  // Names this process in routes and channels: unique per process.
  std::string replica_id;
  // How long a retried publish with the same idempotency key is recognised.
  absl::Duration idempotency_window = absl::Minutes(10);
  // Routes of a replica count while its lease holds; it renews a third of
  // the way through.
  absl::Duration lease = absl::Seconds(15);
  // The retry advice of streams closed to resynchronise (--retry_ms).
  uint32_t resync_retry_ms = 2000;
  // What "now" is for leases and control messages (the broker's clock);
  // null: the system clock. Must outlive the store.
  const Clock* clock = nullptr;
  // Counts and totals for metrics are refreshed this often.
  absl::Duration stats_interval = absl::Seconds(5);
  // Told each time the masters serving the slots change (the first map
  // included; a failover, a reshard), for the log. On the router's thread.
  std::function<void(bool cluster, const std::vector<std::string>& masters)> on_topology;
  // Told when the count of mailboxes that took a new epoch under the fence
  // grew since the last stats refresh (not at the first), for the log. On
  // the maintenance thread.
  std::function<void(uint64_t newly_fenced, uint64_t total)> on_fenced;
};

// Engine health and traffic, for metrics. Counters only grow.
struct RedisStoreCounters {
  std::atomic<uint64_t> errors_unavailable{0};  // calls not sent, or outcome unknown
  std::atomic<uint64_t> errors_oom{0};          // refused by maxmemory
  std::atomic<uint64_t> errors_other{0};        // other error replies
  // Seconds from sending a caller's pb1 calls to their last reply.
  Histogram latency{
      {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3}};
  std::atomic<int64_t> in_flight{0};  // pb1 calls sent and not yet answered
};

// Safe for concurrent access from multiple threads. Calls block their caller
// until Redis answers or --redis_io_timeout passes; the store's own threads
// (connections' I/O, the router's and a maintenance thread) never call the
// listener under a lock of the store.
class RedisMailboxStore final : public MailboxStore {
 public:
  // Connects in the background: the store answers UNAVAILABLE until Redis
  // is reachable. INVALID_ARGUMENT for a bad address or replica id.
  static absl::StatusOr<std::unique_ptr<RedisMailboxStore>> Start(RedisStoreOptions options,
                                                                  RetentionPolicy retention,
                                                                  StoreLimits limits);
  ~RedisMailboxStore() override;

  void SetAppendListener(AppendListener* listener) override;
  absl::StatusOr<std::vector<AppendedMessage>> Append(absl::Span<const std::string> client_ids,
                                                      std::shared_ptr<const Payload> payload,
                                                      absl::Time now, absl::Time expires_at,
                                                      absl::string_view idempotency_key) override;
  absl::StatusOr<ReadResult> Read(const std::string& client_id, const ReadRequest& request,
                                  absl::Time now) override;
  void ConfirmDelivered(const std::string& client_id, const MessageId& through) override;
  void ReleaseStream(const std::string& client_id, absl::Time now) override;
  absl::StatusOr<size_t> CloseRemoteStreams(const std::string& client_id, CloseCause cause,
                                            uint32_t retry_ms) override;
  absl::Status Touch(const std::string& client_id, absl::Time now, bool create) override;
  absl::StatusOr<MailboxInfo> Describe(const std::string& client_id, absl::Time now) override;
  absl::StatusOr<std::vector<std::string>> ListClients() override;
  absl::Status AddToTopic(const std::string& client_id, const std::string& topic,
                          absl::Time now) override;
  absl::Status RemoveFromTopic(const std::string& client_id, const std::string& topic) override;
  absl::StatusOr<std::vector<std::string>> TopicMembers(const std::string& topic) override;
  absl::Status Delete(const std::string& client_id) override;
  std::vector<std::string> ExpireIdle(
      absl::Time now, const std::function<bool(const std::string&)>& is_online) override;
  // From the last refresh (every stats_interval): Redis-wide, the same on
  // every replica.
  StoreStats Stats() override ABSL_LOCKS_EXCLUDED(stats_mu_);

  // Whether every master's connection is up and every partition's live
  // feed subscribed.
  bool up() const ABSL_LOCKS_EXCLUDED(feeds_mu_);
  const RedisStoreCounters& counters() const { return counters_; }
  const LiveFeedCounters& feed_counters() const { return feed_counters_; }
  const RedisRouterCounters& router_counters() const { return router_->counters(); }
  // Whether the store talks to a Redis Cluster (false until known).
  bool cluster() const { return router_->cluster(); }
  const std::string& replica_id() const { return options_.replica_id; }
  // The router the store talks through (the event relay shares it).
  RedisRouter* router() { return router_.get(); }
  // Renews this process's leases as of `now` (tests move their clock).
  void RenewLeasesForTesting(absl::Time now) { RenewLeases(now); }
  // Mailboxes that took a new epoch under a new Redis process (Redis-wide,
  // as of the last stats refresh).
  uint64_t fenced() const { return fenced_.load(std::memory_order_relaxed); }

 private:
  RedisMailboxStore(RedisStoreOptions options, RetentionPolicy retention, StoreLimits limits);

  std::string NewEpoch() ABSL_LOCKS_EXCLUDED(epoch_mu_);
  // One FCALL of `function` on partition `partition` with `args`. Error
  // replies become statuses.
  absl::StatusOr<RespValue> CallFunction(const std::string& function, int partition,
                                         std::vector<std::string> args);
  // Several calls at once, pipelined per master; counted in the metrics.
  std::vector<absl::StatusOr<RespValue>> CallFunctions(std::vector<SlotCommand> commands);
  // The cluster's map changed (or is first known): one feed per master,
  // subscribed to the partitions it serves.
  void OnMap(const SlotMap& map) ABSL_LOCKS_EXCLUDED(feeds_mu_);
  // Whether streams of `partition` may open here (its feed is subscribed).
  bool FeedLive(int partition) const ABSL_LOCKS_EXCLUDED(feeds_mu_);
  void CheckFeeds(absl::Time now) ABSL_LOCKS_EXCLUDED(feeds_mu_);
  absl::Status StatusOfReply(const absl::StatusOr<RespValue>& reply);
  // The appends of one publish from its calls' replies, in client order;
  // `members` lists each call's clients by index.
  absl::StatusOr<std::vector<AppendedMessage>> CollectAppends(
      std::vector<absl::StatusOr<RespValue>> replies,
      const std::vector<std::vector<size_t>>& members, size_t total);
  // Whether creating one more mailbox stays within --max_mailboxes (against
  // the count of the last refresh: approximate across replicas).
  bool MayCreate() const;
  void MaintenanceLoop() ABSL_LOCKS_EXCLUDED(stop_mu_);
  void RenewLeases(absl::Time now);
  void RefreshStats();
  // Sends the confirmations gathered since the last call.
  void FlushConfirmations() ABSL_LOCKS_EXCLUDED(confirms_mu_);
  void ForgetTopicMembers(const std::string& client_id, const std::vector<std::string>& topics);

  const RedisStoreOptions options_;
  const RetentionPolicy retention_;
  const StoreLimits limits_;
  const SystemClock system_clock_;
  const Clock* const clock_;
  std::unique_ptr<RedisRouter> router_;
  absl::Notification router_started_;  // router_ is set (its thread may call OnMap before)
  RedisStoreCounters counters_;
  LiveFeedCounters feed_counters_;
  std::atomic<AppendListener*> listener_{nullptr};

  mutable absl::Mutex feeds_mu_;
  std::map<std::string, std::unique_ptr<LiveFeed>> feeds_ ABSL_GUARDED_BY(feeds_mu_);  // by master
  std::array<LiveFeed*, kPartitions> feed_of_ ABSL_GUARDED_BY(feeds_mu_){};
  bool first_map_ ABSL_GUARDED_BY(feeds_mu_) = true;
  std::atomic<uint64_t> approx_mailboxes_{0};
  std::atomic<uint64_t> fenced_{0};
  bool stats_refreshed_ = false;  // the maintenance thread's: a first refresh done
  // Streams this process holds, per partition: their leases are renewed.
  std::array<std::atomic<int32_t>, kPartitions> local_streams_{};

  absl::Mutex epoch_mu_;
  absl::BitGen epoch_gen_ ABSL_GUARDED_BY(epoch_mu_);

  absl::Mutex confirms_mu_;
  // partition -> client -> the latest id confirmed
  std::map<int, std::map<std::string, MessageId>> confirms_ ABSL_GUARDED_BY(confirms_mu_);

  mutable absl::Mutex stats_mu_;
  StoreStats stats_ ABSL_GUARDED_BY(stats_mu_);

  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread maintenance_;
};

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_REDIS_MAILBOX_STORE_H_
