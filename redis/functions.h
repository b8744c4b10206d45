// The pb1 Functions library (redis/functions.lua, compiled into the binary)
// and the keys its functions take. Every mailbox key carries its
// partition's hash tag, so one call can serve all mailboxes of a partition
// on the one master that owns its slot. Pure functions; safe from any
// thread.
#ifndef PUSH_BROKER_REDIS_FUNCTIONS_H_
#define PUSH_BROKER_REDIS_FUNCTIONS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "redis/redis_client.h"

namespace pushbroker {
// The library's Lua source, embedded at build time.
absl::string_view RedisFunctionsLua();
}  // namespace pushbroker

namespace pushbroker::redis {

// The keys of one mailbox, and of its partition's client registry. Every
// pb1 function takes the registry as its one key and finds the others by
// the prefix they share.
struct MailboxKeys {
  std::string meta;     // pb:{tag}:h:<client_id>
  std::string list;     // pb:{tag}:m:<client_id>
  std::string clients;  // pb:{tag}:clients
};
MailboxKeys KeysOf(absl::string_view client_id);

// "pb:{tag}:clients" of partition `partition`.
std::string RegistryKey(int partition);
// The shard channel of `replica`'s notifications about `partition`.
std::string ReplicaChannel(int partition, absl::string_view replica);
// The members of a topic: a SET in the topic's own slot.
std::string TopicKey(absl::string_view topic);

// Loads (or replaces) the library on the node behind `client`. Functions
// are replicated and persisted by Redis, unlike EVAL scripts.
absl::Status LoadFunctions(RedisClient& client);

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_FUNCTIONS_H_
