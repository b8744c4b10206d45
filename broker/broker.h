// Broker: the core of push-broker. Validates and routes publishes to
// mailboxes, keeps topic membership and presence, opens live streams with an
// exact replay, and answers queries. No networking: adapters (gRPC, HTTP)
// translate their wire formats to these calls.
#ifndef PUSH_BROKER_BROKER_BROKER_H_
#define PUSH_BROKER_BROKER_BROKER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "broker/broker_stats.h"
#include "broker/clock.h"
#include "broker/idempotency_cache.h"
#include "broker/local_fanout.h"
#include "broker/mailbox_store.h"
#include "broker/publish.h"
#include "broker/stream_sink.h"
#include "broker/validation.h"
#include "events/broker_event.h"
#include "events/presence_tracker.h"
#include "events/receipt_waits.h"
#include "events/watch_hub.h"

namespace pushbroker {

struct BrokerOptions {
  ValidationLimits limits;
  size_t max_publish_targets = 10000;  // client ids in one list publish
  absl::Duration idempotency_window = absl::Minutes(10);
  size_t idempotency_max_keys = 100000;
  size_t history_default_limit = 100;
  size_t history_max_limit = 10000;
  size_t max_streams_per_client = 16;  // SSE streams and waiting polls
  // Events for Watch: the log's limits, presence's grace, and waits.
  WatchOptions watch;
  absl::Duration offline_grace = absl::Seconds(2);
  absl::Duration max_wait_timeout = absl::Seconds(30);
  absl::Duration default_wait_timeout = absl::Seconds(5);  // a wait that names none
  size_t max_ack_ids = 1000;                               // ids in one acknowledgement
  std::string replica;                                     // this process's name on its events
};

// A publish that waits for its receipts: `done` runs once every recipient
// was reached (want: delivered or acked) or `timeout` passed, on whichever
// thread saw that happen. It never runs when Publish returns an error.
struct PublishWait {
  Receipt want = Receipt::kNone;
  absl::Duration timeout = absl::ZeroDuration();  // zero: the default
  std::function<void(ReceiptCounts)> done;
};

// How events travel to the other replicas (the Redis store's relay). All
// three are set together, before the broker serves.
struct EventRelayHooks {
  std::function<void(const BrokerEvent&)> publish;  // to the other replicas
  std::function<bool(EventKind)> fleet_wants;       // another replica wants this kind
  std::function<void()> wants_changed;              // tell the fleet now (a wait began)
};

// Where a new stream starts: an optional reset notice, then `replay` in
// offset order. The stream is already registered for live messages; it
// drops live ones whose offset is at most the last replayed.
struct OpenedStream {
  MailboxPosition position;  // where the mailbox stood when replay was read
  std::optional<ResetReason> reset;
  std::optional<MessageId> earliest_retained;
  std::vector<Message> replay;
};

struct ClientState {
  std::string client_id;
  bool online = false;
  size_t streams = 0;
  std::vector<std::string> topics;
  size_t mailbox_size = 0;
  std::optional<MessageId> first_id;
  std::optional<MessageId> last_id;
  absl::Time last_seen;
};

struct HistoryPage {
  std::vector<Message> messages;
  std::optional<ResetReason> reset;
  std::optional<MessageId> earliest_retained;
  bool more = false;
};

// Safe for concurrent access from multiple threads. The store and clock must
// outlive the broker.
class Broker {
 public:
  Broker(BrokerOptions options, MailboxStore* store, const Clock* clock);
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Takes the request by value: its data moves into the stored payload.
  absl::StatusOr<PublishResult> Publish(PublishRequest request);
  // The same, then waits as `wait` says (see PublishWait). A publish that an
  // idempotency key makes a duplicate does not wait: `done` runs at once
  // with nothing counted.
  absl::StatusOr<PublishResult> Publish(PublishRequest request, PublishWait wait);

  absl::Status Subscribe(const std::string& client_id, const std::string& topic);
  absl::Status Unsubscribe(const std::string& client_id, const std::string& topic);

  // NOT_FOUND for a client with no mailbox.
  absl::StatusOr<ClientState> GetClient(const std::string& client_id);
  // `after_id` empty: from the oldest retained message. A malformed id is
  // INVALID_ARGUMENT here (a programmatic caller); a foreign or too old one
  // yields a reset and everything retained.
  absl::StatusOr<HistoryPage> History(const std::string& client_id, const std::string& after_id,
                                      size_t limit);
  // Closes the client's live streams after advising `retry_ms`. Returns how
  // many streams were told. NOT_FOUND for a client with no mailbox.
  absl::StatusOr<size_t> Disconnect(const std::string& client_id, uint32_t retry_ms);
  absl::Status DeleteClient(const std::string& client_id);

  // Registers `sink` for live messages, then reads what it should replay:
  // with `last_event_id`, exactly after it (or a reset), and the id counts as
  // the client's confirmation of everything through it; without, whatever
  // the client is not known to have received (see ConfirmDelivered).
  // Creates the mailbox if needed.
  // RESOURCE_EXHAUSTED when the client has max_streams_per_client already.
  absl::StatusOr<OpenedStream> OpenStream(const std::string& client_id,
                                          const std::optional<std::string>& last_event_id,
                                          std::shared_ptr<StreamSink> sink);
  // The client is known to have received everything through `through` (its
  // stream's bytes were acknowledged by the peer's TCP): a later connection
  // without an id starts after it. Handing a message to a stream is not
  // enough, since the connection may break before the bytes arrive.
  void ConfirmDelivered(const std::string& client_id, const MessageId& through);
  // Unregisters a stream that ended for any reason (`reason` names it for
  // Watch: peer_closed, slow_consumer, answered, ...).
  void UnregisterStream(const std::string& client_id, const StreamSink* sink,
                        absl::string_view reason = "ended");
  // Messages `first`..`through` of `epoch` were written in full to one of
  // the client's streams (or returned by a poll): delivered events and
  // receipts. Cheap when nobody watches or waits.
  void ReportDelivered(const std::string& client_id, uint64_t epoch, uint64_t first,
                       uint64_t through, const char* transport);
  // The page acknowledged these message ids. INVALID_ARGUMENT for a
  // malformed id or one the mailbox never assigned (nothing is recorded
  // then), NOT_FOUND for a client without a mailbox. Returns how many.
  absl::StatusOr<size_t> Acknowledge(const std::string& client_id,
                                     const std::vector<std::string>& ids);
  // A message the page sends up; returns its event id.
  absl::StatusOr<std::string> ReceiveFromClient(const std::string& client_id,
                                                const std::string& event, const std::string& data);
  // Offline events past their grace, wait deadlines, event redelivery and
  // trimming. Call often (every 50 ms or so).
  void TickEvents();
  // Completes every waiting publish with what it has (shutdown).
  void EndWaits() { receipts_.Tick(absl::InfiniteFuture()); }
  // Before serving: events seen here also go to other replicas through
  // `hooks`, and ReceiveRemoteEvent takes theirs.
  void SetEventRelay(EventRelayHooks hooks) { relay_ = std::move(hooks); }
  // An event another replica saw: receipts for waiting publishes, and the
  // local watchers.
  void ReceiveRemoteEvent(BrokerEvent event);
  // The kinds this replica wants from the others: its watchers' and, while
  // a publish waits, receipts.
  EventKindSet LocalWants() const;
  WatchHub& events() { return events_; }
  const ReceiptWaits& receipts() const { return receipts_; }
  // Every live stream on this process, to close them one by one (drain).
  std::vector<std::shared_ptr<StreamSink>> LiveStreams() { return fanout_.AllSinks(); }

  // Expires messages and idle mailboxes; call periodically. Returns the
  // mailboxes removed.
  size_t Sweep();
  // Clients with presence state on this process (live streams or a
  // last-seen time); bounded by the mailboxes that exist.
  size_t TrackedClients() const { return fanout_.TrackedClients(); }

  const BrokerStats& stats() const { return stats_; }
  const ValidationLimits& limits() const { return options_.limits; }

 private:
  absl::StatusOr<std::vector<std::string>> ResolveRecipients(const PublishTarget& target);
  // Moves the request's event and data into the payload.
  // With `wait`, registers it before the append and gives it the ids after.
  absl::StatusOr<PublishResult> PublishOnce(PublishRequest& request, PublishWait* wait);
  // Whether an event of `kind` is wanted here or by another replica.
  bool Wants(EventKind kind) const {
    return events_.Wants(kind) || (relay_.fleet_wants && relay_.fleet_wants(kind));
  }
  // Stamps and appends an event to the log (and relays it to the replicas
  // that want it); returns its id.
  std::string Emit(EventKind kind, const std::string& client_id, BrokerEvent event = {});
  absl::Status ValidatePublish(const PublishRequest& request) const;

  const BrokerOptions options_;
  MailboxStore* const store_;
  const Clock* const clock_;
  LocalFanout fanout_;
  IdempotencyCache idempotency_;
  BrokerStats stats_;
  WatchHub events_;
  PresenceTracker presence_;
  ReceiptWaits receipts_;
  EventRelayHooks relay_;  // set before serving; empty: one replica
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_BROKER_H_
