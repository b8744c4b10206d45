// RESP2, the Redis protocol: a reply as a plain value, commands encoded as
// arrays of bulk strings, and a reader that turns a byte stream into
// replies. The parsing is hiredis's (its redisReader, the one part of
// Debian's hiredis 0.14 this project uses; see docs/redis.md). RespReader is
// for one thread at a time; the rest are values and pure functions.
#ifndef PUSH_BROKER_REDIS_RESP_H_
#define PUSH_BROKER_REDIS_RESP_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct redisReader;

namespace pushbroker::redis {

// One reply. `text` holds a bulk string, a status or an error message;
// `integer` an integer; `elements` an array's items.
struct RespValue {
  enum class Type { kString, kStatus, kError, kInteger, kNil, kArray };
  Type type = Type::kNil;
  std::string text;
  int64_t integer = 0;
  std::vector<RespValue> elements;

  bool is_error() const { return type == Type::kError; }
  // "MOVED 3999 127.0.0.1:6381" -> "MOVED": the error's first word.
  absl::string_view error_kind() const;
};

// `args` as a RESP array of bulk strings, the form every command takes.
std::string EncodeCommand(const std::vector<std::string>& args);

class RespReader {
 public:
  RespReader();
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;
  ~RespReader();

  void Feed(absl::string_view bytes);
  // The next complete reply, nullopt when more bytes are needed, or
  // DATA_LOSS when the stream is not RESP (the connection must be closed).
  absl::StatusOr<std::optional<RespValue>> Next();

 private:
  redisReader* reader_;
};

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_RESP_H_
