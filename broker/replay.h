// The replay rule: where a reader continues in a mailbox, and when it must be
// told that it cannot continue exactly. Pure functions; safe from any thread.
#ifndef PUSH_BROKER_BROKER_REPLAY_H_
#define PUSH_BROKER_BROKER_REPLAY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "broker/message_id.h"

namespace pushbroker {

// Why a reader cannot continue exactly after the id it named.
enum class ResetReason {
  kMalformedId,      // the id does not parse
  kForeignEpoch,     // the id belongs to another incarnation of the mailbox
  kAheadOfMailbox,   // the id is past the last message ever assigned
  kMessagesEvicted,  // a message right after the id is no longer retained
};

absl::string_view ResetReasonName(ResetReason reason);

// Where a mailbox's history stands. `first_retained` is `next_offset` when
// the mailbox holds nothing.
struct MailboxPosition {
  uint64_t epoch = 0;
  uint64_t first_retained = 1;  // offset of the oldest retained message
  uint64_t next_offset = 1;     // offset the next message will get
};

// Where a reader starts: the first offset to send, and a reset notice when
// the reader's id could not be continued exactly.
struct ReplayStart {
  uint64_t from_offset = 1;
  std::optional<ResetReason> reset;
};

// Replay after `last_event_id` (the raw text a client sent). A reader that
// gives an id continues exactly after it only if the id's epoch is current,
// the id is not ahead of the mailbox, and nothing after it was evicted (the
// id's own message may be gone). Otherwise it gets a reset and everything
// retained.
ReplayStart ResolveReplay(const MailboxPosition& position, absl::string_view last_event_id);

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_REPLAY_H_
