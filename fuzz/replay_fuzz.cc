// Property: whatever a client sends as Last-Event-ID, the replay starts
// inside the retained range, and it continues without a reset only right
// after a retained-or-just-evicted offset of the current epoch.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "broker/replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 12) return 0;
  uint32_t epoch, first, span;
  std::memcpy(&epoch, data, 4);
  std::memcpy(&first, data + 4, 4);
  std::memcpy(&span, data + 8, 4);
  pushbroker::MailboxPosition position;
  position.epoch = (epoch % 64) + 1;  // small, so fuzzed ids hit it
  position.first_retained = (first % 2000) + 1;
  position.next_offset = position.first_retained + span % 2000;
  const absl::string_view id(reinterpret_cast<const char*>(data + 12), size - 12);

  const pushbroker::ReplayStart start = pushbroker::ResolveReplay(position, id);
  if (start.from_offset < position.first_retained || start.from_offset > position.next_offset)
    std::abort();
  if (!start.reset) {
    const auto parsed = pushbroker::MessageId::Parse(id);
    if (!parsed || parsed->epoch != position.epoch) std::abort();
    if (parsed->offset + 1 != start.from_offset) std::abort();
    if (parsed->offset >= position.next_offset || parsed->offset + 1 < position.first_retained)
      std::abort();
  }
  return 0;
}
