// Notification: what one replica hears on its shard channel of a partition,
// as pb1 functions publish it (redis/functions.lua): the messages appended
// to mailboxes with streams on that replica, a request to close a client's
// streams, or a liveness probe the replica sent itself. Pure functions over
// values; safe from any thread.
#ifndef PUSH_BROKER_REDIS_NOTIFICATION_H_
#define PUSH_BROKER_REDIS_NOTIFICATION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "broker/message.h"
#include "broker/message_id.h"

namespace pushbroker::redis {

struct Notification {
  enum class Kind { kMessages, kClose, kProbe };
  Kind kind = Kind::kMessages;
  // Counts the notifications of one (partition, replica) channel from 1; a
  // gap means one was lost. 0 for probes, which are not counted.
  uint64_t seq = 0;

  // kMessages: one payload, appended to each listed mailbox under its id.
  std::shared_ptr<const Payload> payload;
  absl::Time published_at;
  absl::Time expires_at;
  std::vector<std::pair<std::string, MessageId>> appended;

  // kClose: the client whose streams to close, why ("disconnected",
  // "deleted") and the retry advice.
  std::string client_id;
  std::string cause;
  uint32_t retry_ms = 0;
};

// DATA_LOSS when `text` is not a notification of this library version.
absl::StatusOr<Notification> ParseNotification(absl::string_view text);

// The text of a probe: "0 P <nonce>".
std::string ProbeText(uint64_t nonce);
// The nonce of a parsed probe's text.
absl::StatusOr<uint64_t> ProbeNonce(absl::string_view text);

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_NOTIFICATION_H_
