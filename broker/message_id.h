// MessageId: the position of a message in one mailbox, written `<epoch>-<offset>`.
#ifndef PUSH_BROKER_BROKER_MESSAGE_ID_H_
#define PUSH_BROKER_BROKER_MESSAGE_ID_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace pushbroker {

// The epoch names one incarnation of a mailbox's history (lowercase hex on
// the wire); the offset grows by exactly one per message in that incarnation,
// starting at 1, so a gap is detectable. A plain value type.
struct MessageId {
  uint64_t epoch = 0;
  uint64_t offset = 0;

  std::string ToString() const;
  // The same text written to `out`, which has room for kMaxText bytes;
  // returns its length. Allocates nothing (a broadcast writes one per stream).
  static constexpr size_t kMaxText = 16 + 1 + 20;
  size_t Write(char* out) const;

  // Parses the wire form. Returns nullopt for anything that is not exactly
  // `<1-16 lowercase hex digits>-<1-20 decimal digits>` with a non-zero epoch
  // and an offset that fits 64 bits. Never throws, whatever the input.
  static std::optional<MessageId> Parse(absl::string_view text);

  friend bool operator==(const MessageId& a, const MessageId& b) {
    return a.epoch == b.epoch && a.offset == b.offset;
  }
  friend bool operator!=(const MessageId& a, const MessageId& b) { return !(a == b); }
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_MESSAGE_ID_H_
