#include "broker/message_id.h"

#include "absl/strings/str_cat.h"

namespace pushbroker {

std::string MessageId::ToString() const { return absl::StrCat(absl::Hex(epoch), "-", offset); }

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
