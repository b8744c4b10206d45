// BrokerEvent: what a backend hears through Watch: presence changes, streams
// opening and closing, delivery and ack receipts, and messages sent up by
// pages. Plain data; the names of kinds are the wire's names.
#ifndef PUSH_BROKER_EVENTS_BROKER_EVENT_H_
#define PUSH_BROKER_EVENTS_BROKER_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace pushbroker {

enum class EventKind : uint8_t {
  kOnline,         // a client's first stream or poll (after being offline)
  kOffline,        // its last one ended, and --offline_grace passed
  kStreamOpened,   // an SSE stream or a poll began
  kStreamClosed,   // ... and ended, with a reason
  kDelivered,      // a message was written in full to a stream, or returned by a poll
  kAcked,          // the page acknowledged a message (POST /v1/ack)
  kClientMessage,  // the page sent a message up (POST /v1/messages)
};
inline constexpr size_t kEventKindCount = 7;

absl::string_view EventKindName(EventKind kind);
std::optional<EventKind> ParseEventKind(absl::string_view name);

// A set of kinds, as a bit mask. Empty means "every kind" only where a
// caller says so (see ParseEventKinds).
class EventKindSet {
 public:
  static EventKindSet All() { return EventKindSet((1u << kEventKindCount) - 1); }
  static EventKindSet FromBits(uint32_t bits) {
    return EventKindSet(bits & ((1u << kEventKindCount) - 1));
  }
  EventKindSet() = default;

  bool Has(EventKind kind) const { return (bits_ >> static_cast<unsigned>(kind)) & 1u; }
  void Add(EventKind kind) { bits_ |= 1u << static_cast<unsigned>(kind); }
  void Add(EventKindSet other) { bits_ |= other.bits_; }
  bool empty() const { return bits_ == 0; }
  uint32_t bits() const { return bits_; }
  bool operator==(const EventKindSet& other) const { return bits_ == other.bits_; }
  // The names, comma-separated, in kind order.
  std::string ToString() const;

 private:
  explicit EventKindSet(uint32_t bits) : bits_(bits) {}
  uint32_t bits_ = 0;
};

// Names as a watcher sends them; an empty list means every kind.
// INVALID_ARGUMENT names the first unknown one.
absl::StatusOr<EventKindSet> ParseEventKinds(const std::vector<std::string>& names);

struct BrokerEvent {
  std::string id;  // ordered within its log, opaque to watchers; set by the log
  EventKind kind = EventKind::kOnline;
  std::string client_id;
  absl::Time at;
  std::string message_id;  // delivered, acked
  std::string event;       // client_message: the page's event name
  std::string data;        // client_message: the page's data
  uint32_t streams = 0;    // the client's streams on this replica after the change
  std::string transport;   // "sse" or "poll" (stream_opened, stream_closed, delivered)
  std::string reason;      // stream_closed: why
  std::string replica;     // the broker process that saw it
  uint64_t dropped = 0;    // events this watcher lost just before this one

  // What the event costs a queue (for --watch_queue_bytes and retention).
  size_t ByteSize() const {
    return sizeof(BrokerEvent) + id.size() + client_id.size() + message_id.size() + event.size() +
           data.size() + transport.size() + reason.size() + replica.size();
  }
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_EVENTS_BROKER_EVENT_H_
