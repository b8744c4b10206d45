// MailboxStore: the one storage seam of the broker. The in-memory store is the
// embedded default; a Redis store implements the same contract for
// multi-replica deployments.
#ifndef PUSH_BROKER_BROKER_MAILBOX_STORE_H_
#define PUSH_BROKER_BROKER_MAILBOX_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "broker/message.h"
#include "broker/replay.h"
#include "broker/stream_sink.h"

namespace pushbroker {

// Hears about every append, in offset order per mailbox. Called by the store
// while the append is still atomic with respect to other appends and reads of
// that mailbox ("append and wake in one step"), so it must not block and must
// not call back into the store. Returns how many live streams took the message.
// A store shared by several processes (Redis) also calls it on its own I/O
// thread, after Append returned, still in offset order per mailbox.
class AppendListener {
 public:
  virtual ~AppendListener() = default;
  // `batch` gathers the wake-ups of one append (see FanoutBatch).
  virtual size_t OnAppended(const std::string& client_id, const Message& message,
                            FanoutBatch& batch) = 0;
  // Another process asked this one to close the client's streams
  // (Disconnect, DeleteClient through another replica).
  virtual void CloseStreams(const std::string& client_id, CloseCause cause, uint32_t retry_ms) = 0;
  // Notifications for these clients may have been lost: their streams
  // close with a retry advice between `retry_ms` and twice that, and resume
  // exactly from their last id.
  virtual void Resync(const std::function<bool(const std::string&)>& affected,
                      uint32_t retry_ms) = 0;
};

struct AppendedMessage {
  std::string client_id;
  MessageId id;
  size_t streams = 0;  // live streams the message was handed to
  // An earlier publish under the same idempotency key appended it (`id`
  // is that publish's); nothing was appended now.
  bool duplicate = false;
};

// What a reader asks for.
struct ReadRequest {
  enum class From {
    kOldestRetained,  // everything retained (History with no after_id)
    kUndelivered,     // what no reader of this client is known to have received
    kAfterId,         // exactly after `after_id`, or a reset
  };
  From from = From::kOldestRetained;
  std::string after_id;  // raw text, for kAfterId
  size_t limit = SIZE_MAX;
  bool create = false;  // create the mailbox when it does not exist
  // Registers a live stream of this process in the same step as the read
  // (stores shared by processes route notifications by it); ReleaseStream
  // ends it.
  bool open_stream = false;
};

struct ReadResult {
  std::vector<Message> messages;
  std::optional<ResetReason> reset;
  std::optional<MessageId> earliest_retained;  // nullopt when empty
  MailboxPosition position;
  bool more = false;  // `limit` cut the answer short
};

struct MailboxInfo {
  size_t size = 0;
  std::optional<MessageId> first_id;  // oldest retained
  std::optional<MessageId> last_id;   // last assigned in this epoch
  std::vector<std::string> topics;
  absl::Time last_activity;
  // Set by stores shared by several processes: streams open on any of them,
  // and when the last one closed.
  std::optional<size_t> streams;
  std::optional<absl::Time> last_seen;
};

// How much history is kept. A message's size is its data and event type
// plus a fixed overhead (MessageBytes); a broadcast's payload counts in full
// in every mailbox, so the budget errs on the safe side.
struct RetentionPolicy {
  size_t max_messages = 1000;            // per mailbox; the oldest go first
  absl::Duration ttl = absl::Hours(24);  // per message, and for idle mailboxes
  size_t max_bytes = 1 << 20;            // per mailbox; the oldest go first
  // All mailboxes together; past it, the oldest messages of the largest
  // mailboxes go first.
  uint64_t memory_budget_bytes = uint64_t{1} << 30;
};

// Limits on what clients and publishers may create.
struct StoreLimits {
  size_t max_mailboxes = 1000000;
  size_t max_topics_per_client = 100;
};

// What one retained message costs beside its text, measured for the memory
// store on glibc: its slot in the mailbox's ring (64 bytes, about 80 with the
// ring's slack), the shared payload's block (its two strings and the
// reference counts, 96 with malloc's header) and the data's own allocation
// slack (about 24). A broadcast's payload is shared by every mailbox it
// reaches but counted in each, so the budget errs on the safe side.
constexpr size_t kMessageOverheadBytes = 200;

// A message's cost against the retention limits: its text plus that overhead.
inline size_t MessageBytes(const Payload& payload) {
  return payload.data.size() + payload.event.size() + kMessageOverheadBytes;
}

struct StoreStats {
  uint64_t mailboxes = 0;
  uint64_t messages = 0;          // retained, across all mailboxes
  uint64_t bytes = 0;             // retained, as MessageBytes counts them
  uint64_t evicted_capacity = 0;  // dropped for --mailbox_max_messages, ever
  uint64_t evicted_size = 0;      // dropped for --mailbox_max_bytes, ever
  uint64_t evicted_budget = 0;    // dropped for --mailbox_memory_budget_bytes, ever
  uint64_t expired = 0;           // dropped for their TTL, ever
};

// Implementations are safe for concurrent access from multiple threads.
// Every method that names a client expects an already validated id.
class MailboxStore {
 public:
  virtual ~MailboxStore() = default;

  // The listener must outlive the store's use of it. Set once, before use.
  virtual void SetAppendListener(AppendListener* listener) = 0;

  // Appends `payload` to each client's mailbox (created when missing), in one
  // step per mailbox with the listener's notification. `expires_at` is capped
  // by the retention TTL. RESOURCE_EXHAUSTED, with nothing appended, when the
  // missing mailboxes would pass the mailbox limit. A store shared by
  // processes also remembers what it appended under a non-empty
  // `idempotency_key` and does not append it again (AppendedMessage's
  // `duplicate`); the memory store leaves that to the broker's cache.
  virtual absl::StatusOr<std::vector<AppendedMessage>> Append(
      absl::Span<const std::string> client_ids, std::shared_ptr<const Payload> payload,
      absl::Time now, absl::Time expires_at, absl::string_view idempotency_key) = 0;

  // Reads a mailbox. NOT_FOUND when it does not exist and `create` is false;
  // RESOURCE_EXHAUSTED when creating it would pass the mailbox limit.
  virtual absl::StatusOr<ReadResult> Read(const std::string& client_id, const ReadRequest& request,
                                          absl::Time now) = 0;

  // Records that a reader of this client received everything through
  // `through` (a TCP-acknowledged stream write, or an id the client sent
  // back): kUndelivered reads start after it. An id of another epoch, or a
  // missing mailbox, changes nothing.
  virtual void ConfirmDelivered(const std::string& client_id, const MessageId& through) = 0;

  // A stream opened with `open_stream` ended: the client was seen now.
  virtual void ReleaseStream(const std::string& client_id, absl::Time now) = 0;

  // Asks other processes holding streams of the client to close them;
  // returns how many they hold (0 for a store of one process). NOT_FOUND
  // when the client has no mailbox.
  virtual absl::StatusOr<size_t> CloseRemoteStreams(const std::string& client_id, CloseCause cause,
                                                    uint32_t retry_ms) = 0;

  // Marks the mailbox active now (the idle TTL restarts). With `create`, a
  // missing mailbox is created; without, it is NOT_FOUND.
  virtual absl::Status Touch(const std::string& client_id, absl::Time now, bool create) = 0;

  virtual absl::StatusOr<MailboxInfo> Describe(const std::string& client_id, absl::Time now) = 0;

  // Every client holding a mailbox (for broadcast). UNAVAILABLE when some
  // could not be listed: a broadcast reaches every mailbox or says it did not.
  virtual absl::StatusOr<std::vector<std::string>> ListClients() = 0;

  // Topic membership. Subscribe creates the client's mailbox if missing;
  // RESOURCE_EXHAUSTED past the topics-per-client or mailbox limit.
  virtual absl::Status AddToTopic(const std::string& client_id, const std::string& topic,
                                  absl::Time now) = 0;
  virtual absl::Status RemoveFromTopic(const std::string& client_id, const std::string& topic) = 0;
  virtual absl::StatusOr<std::vector<std::string>> TopicMembers(const std::string& topic) = 0;

  // Drops the mailbox and its topic memberships, and closes its streams on
  // other processes. NOT_FOUND when missing.
  virtual absl::Status Delete(const std::string& client_id) = 0;

  // Drops expired messages, and mailboxes idle (no activity, no live stream
  // per `is_online`) for longer than the TTL. Returns the clients whose
  // mailboxes were removed, so per-client state elsewhere can go with them.
  virtual std::vector<std::string> ExpireIdle(
      absl::Time now, const std::function<bool(const std::string&)>& is_online) = 0;

  // Counts for metrics; may walk every mailbox.
  virtual StoreStats Stats() = 0;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_MAILBOX_STORE_H_
