#include "broker/replay.h"

namespace pushbroker {

absl::string_view ResetReasonName(ResetReason reason) {
  switch (reason) {
    case ResetReason::kMalformedId:
      return "malformed_id";
    case ResetReason::kForeignEpoch:
      return "foreign_epoch";
    case ResetReason::kAheadOfMailbox:
      return "ahead_of_mailbox";
    case ResetReason::kMessagesEvicted:
      return "messages_evicted";
  }
  return "unknown";
}

ReplayStart ResolveReplay(const MailboxPosition& position, absl::string_view last_event_id) {
  const ReplayStart everything{position.first_retained, std::nullopt};
  const std::optional<MessageId> id = MessageId::Parse(last_event_id);
  if (!id) return {everything.from_offset, ResetReason::kMalformedId};
  if (id->epoch != position.epoch) return {everything.from_offset, ResetReason::kForeignEpoch};
  if (id->offset >= position.next_offset) {
    return {everything.from_offset, ResetReason::kAheadOfMailbox};
  }
  if (position.first_retained > id->offset + 1) {
    return {everything.from_offset, ResetReason::kMessagesEvicted};
  }
  return {id->offset + 1, std::nullopt};
}

}  // namespace pushbroker
