#include "broker/validation.h"

#include "absl/strings/str_cat.h"

namespace pushbroker {
namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '@' || c == '-';
}

absl::Status ValidateName(absl::string_view what, absl::string_view name, size_t max_bytes) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (name.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", name.size(), " bytes; the limit is ", max_bytes));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has a character outside [A-Za-z0-9._:@-] at byte ", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

absl::Status ValidateClientId(absl::string_view id, const ValidationLimits& limits) {
  return ValidateName("client_id", id, limits.max_client_id_bytes);
}

absl::Status ValidateTopic(absl::string_view topic, const ValidationLimits& limits) {
  return ValidateName("topic", topic, limits.max_topic_bytes);
}

absl::Status ValidateEventType(absl::string_view event, const ValidationLimits& limits) {
  if (event.size() > limits.max_event_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("event is ", event.size(), " bytes; the limit is ", limits.max_event_bytes));
  }
  const size_t bad = event.find_first_of(absl::string_view("\r\n\0", 3));
  if (bad != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("event contains CR, LF or NUL at byte ", bad));
  }
  if (!IsValidUtf8(event)) return absl::InvalidArgumentError("event is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status ValidateData(absl::string_view data, const ValidationLimits& limits) {
  if (data.size() > limits.max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data is ", data.size(), " bytes; --max_message_bytes is ", limits.max_message_bytes));
  }
  if (!IsValidUtf8(data)) return absl::InvalidArgumentError("data is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status ValidateIdempotencyKey(absl::string_view key, const ValidationLimits& limits) {
  if (key.size() > limits.max_idempotency_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("idempotency_key is ", key.size(),
                                                   " bytes; the limit is ",
                                                   limits.max_idempotency_key_bytes));
  }
  return absl::OkStatus();
}

}  // namespace pushbroker
