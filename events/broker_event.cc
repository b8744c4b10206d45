#include "events/broker_event.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace pushbroker {
namespace {

constexpr absl::string_view kNames[kEventKindCount] = {
    "online", "offline", "stream_opened", "stream_closed", "delivered", "acked", "client_message"};

}  // namespace

absl::string_view EventKindName(EventKind kind) { return kNames[static_cast<size_t>(kind)]; }

std::optional<EventKind> ParseEventKind(absl::string_view name) {
  for (size_t i = 0; i < kEventKindCount; ++i) {
    if (kNames[i] == name) return static_cast<EventKind>(i);
  }
  return std::nullopt;
}

std::string EventKindSet::ToString() const {
  std::vector<absl::string_view> names;
  for (size_t i = 0; i < kEventKindCount; ++i) {
    if (Has(static_cast<EventKind>(i))) names.push_back(kNames[i]);
  }
  return absl::StrJoin(names, ",");
}

absl::StatusOr<EventKindSet> ParseEventKinds(const std::vector<std::string>& names) {
  if (names.empty()) return EventKindSet::All();
  EventKindSet kinds;
  for (const std::string& name : names) {
    std::optional<EventKind> kind = ParseEventKind(name);
    if (!kind.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown event kind '", name.substr(0, 64),
                                                     "'; the kinds are ",
                                                     EventKindSet::All().ToString()));
    }
    kinds.Add(*kind);
  }
  return kinds;
}

}  // namespace pushbroker
