// The long-poll answer: a JSON batch of messages with the cursor to poll
// after next. Pure; safe from any thread.
#ifndef PUSH_BROKER_HTTP_EDGE_POLL_BATCH_H_
#define PUSH_BROKER_HTTP_EDGE_POLL_BATCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/message.h"
#include "broker/replay.h"

namespace pushbroker {

struct PollBatch {
  std::vector<Message> messages;
  std::optional<ResetReason> reset;
  std::optional<MessageId> earliest_retained;
  std::string after;                 // what the client sent, echoed in a reset
  MessageId cursor;                  // where the next poll continues
  std::optional<uint32_t> retry_ms;  // set when the broker asks the client to pause
};

// {"messages":[{"id","event","data"}...],"reset":null|{"reason","earliest_id",
//  "last_event_id"},"last_id":CURSOR[,"retry_ms":N]}. Event types default to
// "message", as EventSource reports them.
std::string EncodePollBatch(const PollBatch& batch);

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_POLL_BATCH_H_
