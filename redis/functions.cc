#include "redis/functions.h"

#include "absl/strings/str_cat.h"
#include "redis/key_slots.h"

namespace pushbroker::redis {

MailboxKeys KeysOf(absl::string_view client_id) {
  const std::string prefix = absl::StrCat("pb:{", PartitionTag(PartitionOf(client_id)), "}:");
  return MailboxKeys{absl::StrCat(prefix, "h:", client_id), absl::StrCat(prefix, "m:", client_id),
                     absl::StrCat(prefix, "clients")};
}

std::string RegistryKey(int partition) {
  return absl::StrCat("pb:{", PartitionTag(partition), "}:clients");
}

std::string ReplicaChannel(int partition, absl::string_view replica) {
  return absl::StrCat("pb:{", PartitionTag(partition), "}:r:", replica);
}

std::string TopicKey(absl::string_view topic) { return absl::StrCat("pb:{t:", topic, "}:m"); }

absl::Status LoadFunctions(RedisClient& client) {
  absl::StatusOr<RespValue> loaded =
      client.Call({"FUNCTION", "LOAD", "REPLACE", std::string(RedisFunctionsLua())});
  if (!loaded.ok()) return loaded.status();
  if (loaded->is_error()) {
    return absl::InternalError(absl::StrCat("FUNCTION LOAD pb1: ", loaded->text));
  }
  return absl::OkStatus();
}

}  // namespace pushbroker::redis
