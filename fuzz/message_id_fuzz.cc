// Property: Parse never crashes, and whatever it accepts prints back to text
// that parses to the same id.
#include <cstdint>
#include <cstdlib>

#include "broker/message_id.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const std::optional<pushbroker::MessageId> id = pushbroker::MessageId::Parse(text);
  if (!id) return 0;
  if (id->epoch == 0) std::abort();
  const std::optional<pushbroker::MessageId> again = pushbroker::MessageId::Parse(id->ToString());
  if (!again || *again != *id) std::abort();
  return 0;
}
