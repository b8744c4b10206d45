#include "http_edge/poll_batch.h"

#include "nlohmann/json.hpp"

namespace pushbroker {

std::string EncodePollBatch(const PollBatch& batch) {
  nlohmann::json messages = nlohmann::json::array();
  for (const Message& message : batch.messages) {
    messages.push_back(
        {{"id", message.id.ToString()},
         {"event", message.payload->event.empty() ? "message" : message.payload->event},
         {"data", message.payload->data}});
  }
  nlohmann::json body = {{"messages", std::move(messages)}, {"last_id", batch.cursor.ToString()}};
  if (batch.reset.has_value()) {
    body["reset"] = {{"reason", std::string(ResetReasonName(*batch.reset))},
                     {"earliest_id", batch.earliest_retained.has_value()
                                         ? nlohmann::json(batch.earliest_retained->ToString())
                                         : nlohmann::json(nullptr)},
                     {"last_event_id", batch.after.substr(0, 128)}};
  } else {
    body["reset"] = nullptr;
  }
  if (batch.retry_ms.has_value()) body["retry_ms"] = *batch.retry_ms;
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace pushbroker
