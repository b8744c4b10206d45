// MemoryMailboxStore: the embedded default MailboxStore, holding every mailbox
// in this process. Its history dies with the process; a new process starts new
// epochs, so ids from before a restart are recognised as foreign.
#ifndef PUSH_BROKER_BROKER_MEMORY_MAILBOX_STORE_H_
#define PUSH_BROKER_BROKER_MEMORY_MAILBOX_STORE_H_

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "broker/mailbox_store.h"
#include "broker/message_ring.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads. Mailboxes are spread over
// shards with a lock each; topic membership has a lock of its own, never held
// together with a shard lock. The memory budget is enforced by an evictor
// thread of the store's own (started when first needed), taking shard locks
// one at a time, so no publisher pays for an eviction; a publish that adds
// 32 KiB or more waits only while the total is past the budget by an
// eighth, until the evictor catches up; a small one never waits.
class MemoryMailboxStore final : public MailboxStore {
 public:
  explicit MemoryMailboxStore(RetentionPolicy retention, StoreLimits limits = {});
  ~MemoryMailboxStore() override;

  // Blocks until the evictor has nothing left to do (the total is within the
  // budget), or `timeout` passes; false then. For tests and benchmarks.
  bool AwaitEvictionForTesting(absl::Duration timeout = absl::Seconds(10))
      ABSL_LOCKS_EXCLUDED(evictor_mu_);

  void SetAppendListener(AppendListener* listener) override;
  absl::StatusOr<std::vector<AppendedMessage>> Append(absl::Span<const std::string> client_ids,
                                                      std::shared_ptr<const Payload> payload,
                                                      absl::Time now, absl::Time expires_at,
                                                      absl::string_view idempotency_key) override;
  absl::StatusOr<ReadResult> Read(const std::string& client_id, const ReadRequest& request,
                                  absl::Time now) override;
  void ConfirmDelivered(const std::string& client_id, const MessageId& through) override;
  absl::Status Touch(const std::string& client_id, absl::Time now, bool create) override;
  void ReleaseStream(const std::string& client_id, absl::Time now) override;
  absl::StatusOr<size_t> CloseRemoteStreams(const std::string& client_id, CloseCause cause,
                                            uint32_t retry_ms) override;
  absl::StatusOr<MailboxInfo> Describe(const std::string& client_id, absl::Time now) override;
  absl::StatusOr<std::vector<std::string>> ListClients() override;
  absl::Status AddToTopic(const std::string& client_id, const std::string& topic,
                          absl::Time now) override;
  absl::Status RemoveFromTopic(const std::string& client_id, const std::string& topic) override;
  absl::StatusOr<std::vector<std::string>> TopicMembers(const std::string& topic) override;
  absl::Status Delete(const std::string& client_id) override;
  std::vector<std::string> ExpireIdle(
      absl::Time now, const std::function<bool(const std::string&)>& is_online) override;
  StoreStats Stats() override;

 private:
  // Messages hold consecutive offsets; expired ones leave only from the front
  // and are skipped by readers until then.
  struct Mailbox {
    uint64_t epoch = 0;
    uint64_t next_offset = 1;
    uint64_t delivered_through = 0;  // offsets up to here were confirmed received
    MessageRing messages;
    size_t bytes = 0;  // MessageBytes of `messages`
    absl::Time last_activity;
  };
  struct Shard {
    absl::Mutex mu;
    std::unordered_map<std::string, Mailbox> mailboxes ABSL_GUARDED_BY(mu);
  };
  // Many small shards: a pass over one (the evictor's, a broadcast's
  // listing) holds its lock for a short time even at a million mailboxes.
  static constexpr size_t kShards = 256;

  Shard& ShardFor(const std::string& client_id);
  uint64_t NewEpoch() ABSL_LOCKS_EXCLUDED(epoch_mu_);
  // Null when the mailbox is missing and `enforce_limit` finds no room.
  Mailbox* GetOrCreate(Shard& shard, const std::string& client_id, absl::Time now,
                       bool enforce_limit = true) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  absl::Status MailboxLimitError() const;
  // Removes the oldest message; counts it under `reason`.
  void PopFront(Mailbox& mailbox, std::atomic<uint64_t>& reason);
  void DropExpiredFront(Mailbox& mailbox, absl::Time now);
  // Erases a mailbox from its shard, keeping the totals right.
  void EraseMailbox(Shard& shard, std::unordered_map<std::string, Mailbox>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // The evictor thread: one EvictToTarget() pass whenever the total is past
  // the budget.
  void EvictorLoop() ABSL_LOCKS_EXCLUDED(evictor_mu_);
  // Evicts the oldest messages of the largest mailboxes until the total is
  // a little under the budget: finds the size level that frees enough, then
  // trims mailboxes above it, one shard lock at a time.
  void EvictToTarget() ABSL_LOCKS_EXCLUDED(evictor_mu_);
  // Starts or wakes the evictor.
  void WakeEvictor() ABSL_LOCKS_EXCLUDED(evictor_mu_);
  // Waits (bounded) while the total is past the hard ceiling.
  void AwaitRoom() ABSL_LOCKS_EXCLUDED(evictor_mu_);
  uint64_t HardCeiling() const {
    return retention_.memory_budget_bytes + retention_.memory_budget_bytes / 8;
  }
  static MailboxPosition PositionOf(const Mailbox& mailbox);
  void ForgetTopics(const std::string& client_id) ABSL_LOCKS_EXCLUDED(topics_mu_);

  const RetentionPolicy retention_;
  const StoreLimits limits_;
  AppendListener* listener_ = nullptr;  // set once before use

  absl::Mutex epoch_mu_;
  absl::BitGen epoch_gen_ ABSL_GUARDED_BY(epoch_mu_);

  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> mailbox_count_{0};
  std::atomic<uint64_t> total_bytes_{0};
  std::atomic<uint64_t> evicted_capacity_{0};
  std::atomic<uint64_t> evicted_size_{0};
  std::atomic<uint64_t> evicted_budget_{0};
  std::atomic<uint64_t> expired_{0};

  absl::Mutex evictor_mu_;
  bool evictor_wanted_ ABSL_GUARDED_BY(evictor_mu_) = false;
  bool evictor_busy_ ABSL_GUARDED_BY(evictor_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(evictor_mu_) = false;
  uint64_t evictions_done_ ABSL_GUARDED_BY(evictor_mu_) = 0;  // wakes waiters on progress
  size_t room_waiters_ ABSL_GUARDED_BY(evictor_mu_) = 0;      // publishes past the ceiling
  std::thread evictor_ ABSL_GUARDED_BY(evictor_mu_);

  absl::Mutex topics_mu_;
  std::map<std::string, std::set<std::string>> topic_members_ ABSL_GUARDED_BY(topics_mu_);
  std::unordered_map<std::string, std::set<std::string>> client_topics_ ABSL_GUARDED_BY(topics_mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_MEMORY_MAILBOX_STORE_H_
