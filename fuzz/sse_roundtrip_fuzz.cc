// Property: whatever the data (valid UTF-8) and event type (what validation
// lets through), a WHATWG parser reading the encoded stream gets back exactly
// one event with that type, id and data (line breaks read back as LF).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "broker/validation.h"
#include "client/sse_parser.h"
#include "http_edge/sse/sse_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size < 1) return 0;
  const size_t split = bytes[0] % (size);  // event | data
  const std::string event(reinterpret_cast<const char*>(bytes + 1), split > 0 ? split - 1 : 0);
  const std::string data(reinterpret_cast<const char*>(bytes + (split > 0 ? split : 1)),
                         size - (split > 0 ? split : 1));
  pushbroker::ValidationLimits limits;
  limits.max_message_bytes = 1 << 20;
  if (!pushbroker::ValidateEventType(event, limits).ok()) return 0;
  if (!pushbroker::ValidateData(data, limits).ok()) return 0;

  const std::string id = "abc-42";
  const std::string stream = pushbroker::EncodeSseRetry(1000) +
                             pushbroker::EncodeSseEvent(id, event, data) +
                             pushbroker::EncodeSseComment("hb");
  pushbroker::SseParser parser;
  std::vector<pushbroker::SseEvent> events;
  // Feed in two pieces, as a network would split it.
  const size_t cut = stream.size() / 2;
  parser.Feed(absl::string_view(stream).substr(0, cut), &events);
  parser.Feed(absl::string_view(stream).substr(cut), &events);

  std::string expected;
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\r') {
      expected.push_back('\n');
      if (i + 1 < data.size() && data[i + 1] == '\n') ++i;
    } else {
      expected.push_back(data[i]);
    }
  }
  if (events.size() != 1) std::abort();
  if (events[0].data != expected) std::abort();
  if (events[0].type != (event.empty() ? "message" : event)) std::abort();
  if (events[0].last_event_id != id) std::abort();
  if (parser.retry_ms() != 1000u) std::abort();
  return 0;
}
