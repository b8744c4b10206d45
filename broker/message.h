// Message and Payload: what a mailbox holds.
#ifndef PUSH_BROKER_BROKER_MESSAGE_H_
#define PUSH_BROKER_BROKER_MESSAGE_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "broker/message_id.h"

namespace pushbroker {

// What a publisher sent. One Payload is shared by every mailbox a publish
// reaches (a broadcast stores it once). Immutable after construction.
struct Payload {
  std::string event;  // SSE event type; empty means the default "message"
  std::string data;   // UTF-8 text, may contain CR and LF
};

// One entry of one mailbox. A plain value type; copying shares the payload.
struct Message {
  MessageId id;
  std::shared_ptr<const Payload> payload;
  absl::Time published_at;
  absl::Time expires_at;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_MESSAGE_H_
