#include "redis/notification.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace pushbroker::redis {
namespace {

absl::Status Malformed(absl::string_view why) {
  return absl::DataLossError(absl::StrCat("malformed notification: ", why));
}

// Takes the text up to the next '\n' (dropping it); false when there is none.
bool TakeLine(absl::string_view& text, absl::string_view& line) {
  const size_t end = text.find('\n');
  if (end == absl::string_view::npos) return false;
  line = text.substr(0, end);
  text.remove_prefix(end + 1);
  return true;
}

absl::StatusOr<Notification> ParseMessages(std::vector<absl::string_view> header,
                                           absl::string_view rest, Notification out) {
  int64_t published_ms = 0, expires_ms = 0;
  size_t event_len = 0, count = 0;
  if (header.size() != 6 || !absl::SimpleAtoi(header[2], &published_ms) ||
      !absl::SimpleAtoi(header[3], &expires_ms) || !absl::SimpleAtoi(header[4], &event_len) ||
      !absl::SimpleAtoi(header[5], &count)) {
    return Malformed("message header");
  }
  out.appended.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    absl::string_view line;
    if (!TakeLine(rest, line)) return Malformed("missing id line");
    const size_t space = line.find(' ');
    std::optional<MessageId> id =
        space == absl::string_view::npos ? std::nullopt : MessageId::Parse(line.substr(space + 1));
    if (!id.has_value()) return Malformed("id line");
    out.appended.emplace_back(std::string(line.substr(0, space)), *id);
  }
  if (rest.size() < event_len) return Malformed("event");
  out.payload = std::make_shared<const Payload>(
      Payload{std::string(rest.substr(0, event_len)), std::string(rest.substr(event_len))});
  out.published_at = absl::FromUnixMillis(published_ms);
  out.expires_at = absl::FromUnixMillis(expires_ms);
  return out;
}

}  // namespace

absl::StatusOr<Notification> ParseNotification(absl::string_view text) {
  absl::string_view first;
  if (!TakeLine(text, first)) {
    first = text;  // a probe has one line
    text = {};
  }
  std::vector<absl::string_view> header = absl::StrSplit(first, ' ');
  Notification out;
  if (header.size() < 2 || !absl::SimpleAtoi(header[0], &out.seq)) return Malformed("header");
  if (header[1] == "M") {
    out.kind = Notification::Kind::kMessages;
    return ParseMessages(std::move(header), text, std::move(out));
  }
  if (header[1] == "C") {
    out.kind = Notification::Kind::kClose;
    if (header.size() != 4 || !absl::SimpleAtoi(header[3], &out.retry_ms) || text.empty()) {
      return Malformed("close");
    }
    out.cause = std::string(header[2]);
    out.client_id = std::string(text);
    return out;
  }
  if (header[1] == "P") {
    out.kind = Notification::Kind::kProbe;
    return out;
  }
  return Malformed(absl::StrCat("kind '", header[1], "'"));
}

std::string ProbeText(uint64_t nonce) { return absl::StrCat("0 P ", nonce); }

absl::StatusOr<uint64_t> ProbeNonce(absl::string_view text) {
  std::vector<absl::string_view> words = absl::StrSplit(text, ' ');
  uint64_t nonce = 0;
  if (words.size() != 3 || words[1] != "P" || !absl::SimpleAtoi(words[2], &nonce)) {
    return Malformed("probe");
  }
  return nonce;
}

}  // namespace pushbroker::redis
