// SseParser: reads an event stream as the WHATWG HTML spec's EventSource
// does (section 9.2.6), so pushctl and the tests see exactly what a browser
// would. Not thread-safe.
#ifndef PUSH_BROKER_CLIENT_SSE_PARSER_H_
#define PUSH_BROKER_CLIENT_SSE_PARSER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace pushbroker {

struct SseEvent {
  std::string type;  // "message" when the stream named none
  std::string data;
  std::string last_event_id;  // the parser's last-event-id when dispatched
};

class SseParser {
 public:
  // Feeds bytes (UTF-8, any split); dispatched events go to `out`.
  void Feed(absl::string_view bytes, std::vector<SseEvent>* out);

  const std::string& last_event_id() const { return last_event_id_; }
  std::optional<uint32_t> retry_ms() const { return retry_ms_; }
  size_t comments() const { return comments_; }

 private:
  void ProcessLine(absl::string_view line, std::vector<SseEvent>* out);

  std::string pending_;   // bytes of an incomplete line
  bool skip_lf_ = false;  // the previous line ended with CR
  std::string data_;
  std::string type_;
  std::string last_event_id_;
  std::optional<uint32_t> retry_ms_;
  size_t comments_ = 0;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_CLIENT_SSE_PARSER_H_
