#include "redis/resp.h"

#include <hiredis/hiredis.h>

#include "absl/strings/str_cat.h"

namespace pushbroker::redis {
namespace {

RespValue FromReply(const redisReply& reply) {
  RespValue value;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      value.type = reply.type == REDIS_REPLY_STRING   ? RespValue::Type::kString
                   : reply.type == REDIS_REPLY_STATUS ? RespValue::Type::kStatus
                                                      : RespValue::Type::kError;
      value.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      value.type = RespValue::Type::kInteger;
      value.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      value.type = RespValue::Type::kArray;
      value.elements.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) {
        value.elements.push_back(FromReply(*reply.element[i]));
      }
      break;
    default:  // REDIS_REPLY_NIL
      value.type = RespValue::Type::kNil;
      break;
  }
  return value;
}

}  // namespace

absl::string_view RespValue::error_kind() const {
  if (!is_error()) return "";
  const absl::string_view message(text);
  return message.substr(0, message.find(' '));
}

std::string EncodeCommand(const std::vector<std::string>& args) {
  std::string out = absl::StrCat("*", args.size(), "\r\n");
  for (const std::string& arg : args) absl::StrAppend(&out, "$", arg.size(), "\r\n", arg, "\r\n");
  return out;
}

RespReader::RespReader() : reader_(redisReaderCreate()) {}

RespReader::~RespReader() { redisReaderFree(reader_); }

void RespReader::Feed(absl::string_view bytes) {
  redisReaderFeed(reader_, bytes.data(), bytes.size());
}

absl::StatusOr<std::optional<RespValue>> RespReader::Next() {
  void* reply = nullptr;
  if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
    return absl::DataLossError(absl::StrCat("not a RESP reply: ", reader_->errstr));
  }
  if (reply == nullptr) return std::optional<RespValue>();
  RespValue value = FromReply(*static_cast<redisReply*>(reply));
  freeReplyObject(reply);
  return std::optional<RespValue>(std::move(value));
}

}  // namespace pushbroker::redis
