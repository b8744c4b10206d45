#include "tests/support/sse_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/raw_connection.h"

namespace pushbroker::testing {

std::unique_ptr<SseClient> SseClient::Open(int port, const std::string& target,
                                           const Headers& headers, absl::Duration timeout) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return nullptr;
  std::unique_ptr<SseClient> client(new SseClient(fd));
  std::string request = absl::StrCat("GET ", target, " HTTP/1.1\r\nHost: 127.0.0.1:", port,
                                     "\r\nAccept: text/event-stream\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&request, name, ": ", value, "\r\n");
  request += "\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return nullptr;
  }
  const absl::Time deadline = absl::Now() + timeout;
  size_t head_end;
  while ((head_end = client->raw_.find("\r\n\r\n")) == std::string::npos) {
    if (!client->ReadMore(deadline)) return nullptr;
  }
  const std::string head = client->raw_.substr(0, head_end);
  client->raw_.erase(0, head_end + 4);
  size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || !absl::SimpleAtoi(status_line.substr(9, 3), &client->status_)) {
    return nullptr;
  }
  while (line_end != std::string::npos) {
    const size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    client->headers_[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  client->chunked_ = absl::AsciiStrToLower(client->header("transfer-encoding")) == "chunked";
  client->Decode();
  return client;
}

SseClient::~SseClient() { CloseSocket(); }

void SseClient::CloseSocket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string SseClient::header(const std::string& name) const {
  auto it = headers_.find(absl::AsciiStrToLower(name));
  return it == headers_.end() ? "" : it->second;
}

bool SseClient::ReadMore(absl::Time deadline) {
  if (closed_ || fd_ < 0) return false;
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  if (ms <= 0) return false;
  pollfd pfd{fd_, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(ms)) <= 0) return false;
  char buffer[65536];
  const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  raw_.append(buffer, static_cast<size_t>(n));
  return true;
}

void SseClient::Decode() {
  std::string fresh;
  if (!chunked_) {
    fresh.swap(raw_);
  } else {
    while (!ended_) {
      const size_t size_end = raw_.find("\r\n");
      if (size_end == std::string::npos) break;
      size_t size = 0;
      if (!absl::SimpleHexAtoi(raw_.substr(0, size_end), &size)) {
        ended_ = true;  // malformed framing: treat as the end
        break;
      }
      if (size == 0) {
        ended_ = true;
        break;
      }
      if (raw_.size() < size_end + 2 + size + 2) break;
      fresh.append(raw_, size_end + 2, size);
      raw_.erase(0, size_end + 2 + size + 2);
    }
  }
  body_ += fresh;
  std::vector<SseEvent> events;
  parser_.Feed(fresh, &events);
  for (SseEvent& event : events) events_.push_back(std::move(event));
}

std::optional<SseEvent> SseClient::Next(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (events_.empty()) {
    if (ended_ || !ReadMore(deadline)) return std::nullopt;
    Decode();
  }
  SseEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

std::vector<SseEvent> SseClient::Take(size_t count, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<SseEvent> events;
  while (events.size() < count) {
    std::optional<SseEvent> event = Next(deadline - absl::Now());
    if (!event) break;
    events.push_back(std::move(*event));
  }
  return events;
}

bool SseClient::WaitForEnd(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!ended_ && !closed_) {
    if (!ReadMore(deadline)) break;
    Decode();
  }
  return ended_ || closed_;
}

std::string SseClient::ReadBody(absl::Duration timeout) {
  const size_t length = static_cast<size_t>(std::atoi(header("content-length").c_str()));
  const absl::Time deadline = absl::Now() + timeout;
  while (body_.size() + raw_.size() < length && ReadMore(deadline)) {
  }
  Decode();
  return body_;
}

}  // namespace pushbroker::testing
