// The core's publish request and result, independent of any wire format.
#ifndef PUSH_BROKER_BROKER_PUBLISH_H_
#define PUSH_BROKER_BROKER_PUBLISH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace pushbroker {

struct PublishTarget {
  enum class Kind { kUnset, kClient, kClients, kTopic, kBroadcast };
  Kind kind = Kind::kUnset;
  std::string client_id;                // kClient
  std::vector<std::string> client_ids;  // kClients
  std::string topic;                    // kTopic
};

struct PublishRequest {
  PublishTarget target;
  std::string event;
  std::string data;
  std::string idempotency_key;
  std::optional<absl::Duration> ttl;  // capped by the mailbox TTL
  bool return_ids = false;
};

struct PublishResult {
  std::string id;  // set for a single-client target
  uint32_t mailboxes = 0;
  uint32_t streams = 0;
  std::vector<std::pair<std::string, std::string>> recipients;  // (client_id, id)
  bool duplicate = false;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_PUBLISH_H_
