// SseClient: a test's browser tab. Opens GET over a raw socket, reads the
// status and headers, de-chunks the body and parses it with SseParser.
// Not thread-safe.
#ifndef PUSH_BROKER_TESTS_SUPPORT_SSE_CLIENT_H_
#define PUSH_BROKER_TESTS_SUPPORT_SSE_CLIENT_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "client/sse_parser.h"

namespace pushbroker::testing {

class SseClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Connects to 127.0.0.1:port and sends `GET target`. Returns null when the
  // connection or the response head fails within `timeout`.
  static std::unique_ptr<SseClient> Open(int port, const std::string& target,
                                         const Headers& headers = {},
                                         absl::Duration timeout = absl::Seconds(5));
  ~SseClient();

  int status() const { return status_; }
  // Lower-cased header name to value.
  std::string header(const std::string& name) const;
  bool chunked() const { return chunked_; }

  // The next event, or nullopt when none arrives in time or the stream ends.
  std::optional<SseEvent> Next(absl::Duration timeout = absl::Seconds(5));
  // Reads events until `count` arrived or time runs out.
  std::vector<SseEvent> Take(size_t count, absl::Duration timeout = absl::Seconds(5));
  // True once the server ends the body (last chunk or close) within `timeout`.
  bool WaitForEnd(absl::Duration timeout = absl::Seconds(5));
  // The whole body, for non-stream answers (errors).
  std::string ReadBody(absl::Duration timeout = absl::Seconds(5));

  const SseParser& parser() const { return parser_; }
  bool ended() const { return ended_; }
  void CloseSocket();

 private:
  explicit SseClient(int fd) : fd_(fd) {}
  bool ReadMore(absl::Time deadline);
  void Decode();

  int fd_;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  bool chunked_ = false;
  std::string raw_;  // bytes received but not yet decoded
  std::string body_;
  SseParser parser_;
  std::deque<SseEvent> events_;
  bool ended_ = false;   // the last chunk arrived
  bool closed_ = false;  // the peer closed the socket
};

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_SSE_CLIENT_H_
