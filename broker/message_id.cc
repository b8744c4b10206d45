#include "broker/message_id.h"

namespace pushbroker {

std::string MessageId::ToString() const {
  char text[kMaxText];
  return std::string(text, Write(text));
}

size_t MessageId::Write(char* out) const {
  char digits[20];
  size_t n = 0;
  uint64_t value = epoch;
  do {
    digits[n++] = "0123456789abcdef"[value & 0xf];
    value >>= 4;
  } while (value != 0);
  size_t length = 0;
  while (n > 0) out[length++] = digits[--n];
  out[length++] = '-';
  value = offset;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0) out[length++] = digits[--n];
  return length;
}

std::optional<MessageId> MessageId::Parse(absl::string_view text) {
  const size_t dash = text.find('-');
  if (dash == absl::string_view::npos || dash == 0 || dash > 16) return std::nullopt;
  const absl::string_view epoch_text = text.substr(0, dash);
  const absl::string_view offset_text = text.substr(dash + 1);
  if (offset_text.empty() || offset_text.size() > 20) return std::nullopt;

  MessageId id;
  for (char c : epoch_text) {
    uint64_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    id.epoch = (id.epoch << 4) | digit;
  }
  if (id.epoch == 0) return std::nullopt;

  for (char c : offset_text) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (id.offset > (UINT64_MAX - digit) / 10) return std::nullopt;
    id.offset = id.offset * 10 + digit;
  }
  return id;
}

}  // namespace pushbroker
