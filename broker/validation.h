// Validation of everything a caller names: client ids, topics, event types and
// message data. Pure functions over outside input; safe from any thread.
#ifndef PUSH_BROKER_BROKER_VALIDATION_H_
#define PUSH_BROKER_BROKER_VALIDATION_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace pushbroker {

struct ValidationLimits {
  size_t max_client_id_bytes = 128;
  size_t max_topic_bytes = 128;
  size_t max_event_bytes = 128;
  size_t max_message_bytes = 64 * 1024;
  size_t max_idempotency_key_bytes = 256;
};

// Client ids and topics: 1..max bytes of [A-Za-z0-9._:@-]. Anything else would
// leak into logs, metrics labels and Redis keys.
absl::Status ValidateClientId(absl::string_view id, const ValidationLimits& limits);
absl::Status ValidateTopic(absl::string_view topic, const ValidationLimits& limits);

// Event types: valid UTF-8 without CR, LF or NUL (those would let a publisher
// forge extra SSE fields), at most max_event_bytes. Empty is allowed.
absl::Status ValidateEventType(absl::string_view event, const ValidationLimits& limits);

// Data: valid UTF-8, at most max_message_bytes. Newlines are allowed.
absl::Status ValidateData(absl::string_view data, const ValidationLimits& limits);

absl::Status ValidateIdempotencyKey(absl::string_view key, const ValidationLimits& limits);

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code
// points above U+10FFFF).
bool IsValidUtf8(absl::string_view text);

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_VALIDATION_H_
