#include "tools/pushctl/tail.h"

#include <cstdio>
#include <iostream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/sse_parser.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace pushbroker {

int Tail(const TailOptions& options) {
  const absl::Time deadline = options.timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + options.timeout;
  httplib::Client client(options.http_base);
  client.set_read_timeout(60, 0);  // heartbeats arrive every --heartbeat_ms
  const std::string path = absl::StrCat("/v1/events?client_id=", options.client_id);
  std::string last_id = options.last_event_id;
  uint32_t retry_ms = 1000;
  size_t seen = 0;

  while (absl::Now() < deadline) {
    httplib::Headers headers = {{"Accept", "text/event-stream"}};
    if (!last_id.empty()) headers.emplace("Last-Event-ID", last_id);
    SseParser parser;
    std::vector<SseEvent> events;
    int status = 0;
    std::string error_body;
    bool finished = false;
    auto result = client.Get(
        path.c_str(), headers,
        [&](const httplib::Response& response) {
          status = response.status;
          return true;
        },
        [&](const char* data, size_t length) {
          if (status != 200) {
            error_body.append(data, length);
            return true;
          }
          events.clear();
          parser.Feed(absl::string_view(data, length), &events);
          for (const SseEvent& event : events) {
            nlohmann::json line = {
                {"id", event.last_event_id}, {"event", event.type}, {"data", event.data}};
            std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                      << std::endl;
            last_id = event.last_event_id;
            if (options.count > 0 && ++seen >= options.count) {
              finished = true;
              return false;
            }
          }
          return absl::Now() < deadline;
        });
    if (finished) return 0;
    if (parser.retry_ms().has_value()) retry_ms = *parser.retry_ms();
    if (status >= 400 && status < 500) {
      std::cerr << "pushctl: the broker refused the stream (HTTP " << status << "): " << error_body
                << "\n";
      return 1;
    }
    if (absl::Now() >= deadline) break;
    std::cerr << "pushctl: stream ended ("
              << (result ? absl::StrCat("HTTP ", status) : httplib::to_string(result.error()))
              << "); reconnecting in " << retry_ms << " ms"
              << (last_id.empty() ? "" : absl::StrCat(" after ", last_id)) << "\n";
    absl::SleepFor(std::min(absl::Milliseconds(retry_ms), deadline - absl::Now()));
  }
  return 0;
}

}  // namespace pushbroker
