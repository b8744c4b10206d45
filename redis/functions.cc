#include "redis/functions.h"

#include "absl/strings/str_cat.h"
#include "redis/key_slots.h"

namespace pushbroker::redis {

MailboxKeys KeysOf(absl::string_view client_id) {
  const std::string prefix = absl::StrCat("pb:{", PartitionTag(PartitionOf(client_id)), "}:");
  return MailboxKeys{absl::StrCat(prefix, "h:", client_id), absl::StrCat(prefix, "m:", client_id),
                     absl::StrCat(prefix, "clients")};
}

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
