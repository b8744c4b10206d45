// ReceiptWaits: publishes waiting for their messages to be delivered or
// acknowledged. A wait is registered for its recipients before the append
// (a receipt may come back before Append returns), learns the message ids
// after it, and completes when every recipient is reached or its deadline
// passes.
#ifndef PUSH_BROKER_EVENTS_RECEIPT_WAITS_H_
#define PUSH_BROKER_EVENTS_RECEIPT_WAITS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/message_id.h"

namespace pushbroker {

enum class Receipt { kNone, kDelivered, kAcked };

struct ReceiptCounts {
  uint32_t delivered = 0;  // recipients whose message was delivered (or acked)
  uint32_t acked = 0;      // recipients that acknowledged it
};

// Safe for concurrent access from multiple threads. Completion callbacks run
// on the thread that reports the last receipt, or on Tick's, without a lock
// held; each wait completes exactly once.
class ReceiptWaits {
 public:
  using Done = std::function<void(ReceiptCounts)>;
  class Wait;

  ReceiptWaits() = default;
  ReceiptWaits(const ReceiptWaits&) = delete;
  ReceiptWaits& operator=(const ReceiptWaits&) = delete;

  // Whether any publish waits: receipts cost nothing while none does.
  bool active() const { return active_.load(std::memory_order_relaxed) > 0; }
  size_t waiting() const { return static_cast<size_t>(active_.load(std::memory_order_relaxed)); }

  // Starts waiting for `clients`' receipts of a message not yet appended.
  std::shared_ptr<Wait> Begin(const std::vector<std::string>& clients, Receipt want,
                              absl::Time deadline, Done done) ABSL_LOCKS_EXCLUDED(mu_);
  // The message was appended with these ids (client, id); receipts seen
  // since Begin count. May complete the wait at once.
  void SetTargets(const std::shared_ptr<Wait>& wait,
                  const std::vector<std::pair<std::string, MessageId>>& targets)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The publish failed: forget the wait without completing it.
  void Cancel(const std::shared_ptr<Wait>& wait) ABSL_LOCKS_EXCLUDED(mu_);

  // Messages `first`..`through` of `epoch` reached `client_id`.
  void Delivered(const std::string& client_id, uint64_t epoch, uint64_t first, uint64_t through)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Acked(const std::string& client_id, const MessageId& id) ABSL_LOCKS_EXCLUDED(mu_);
  // Completes the waits whose deadline passed.
  void Tick(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Report(const std::string& client_id, uint64_t epoch, uint64_t first, uint64_t through,
              bool acked) ABSL_LOCKS_EXCLUDED(mu_);
  // Unregisters a finished wait; returns its callback to run.
  Done FinishLocked(Wait& wait) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::atomic<int64_t> active_{0};
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::vector<std::shared_ptr<Wait>>> by_client_
      ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::shared_ptr<Wait>> by_deadline_ ABSL_GUARDED_BY(mu_);
};

// One waiting publish. Its state is guarded by the ReceiptWaits' lock.
class ReceiptWaits::Wait {
 public:
  Wait(std::vector<std::string> clients, Receipt want, absl::Time deadline, Done done)
      : clients_(std::move(clients)), want_(want), deadline_(deadline), done_(std::move(done)) {}

 private:
  friend class ReceiptWaits;
  struct Target {
    MessageId id;
    bool known = false;
    bool delivered = false;
    bool acked = false;
  };
  struct Early {
    uint64_t epoch, first, through;
    bool acked;
  };
  // Counts a receipt for `client_id`; true when the wait is complete.
  bool Record(const std::string& client_id, uint64_t epoch, uint64_t first, uint64_t through,
              bool acked);
  bool Complete() const;

  const std::vector<std::string> clients_;
  const Receipt want_;
  const absl::Time deadline_;
  Done done_;
  bool finished_ = false;
  bool targets_known_ = false;
  absl::flat_hash_map<std::string, Target> targets_;
  std::vector<std::pair<std::string, Early>> early_;  // receipts before the ids were known
  ReceiptCounts counts_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_EVENTS_RECEIPT_WAITS_H_
