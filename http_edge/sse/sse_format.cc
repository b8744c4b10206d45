#include "http_edge/sse/sse_format.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "broker/message_id.h"

namespace pushbroker {
namespace {

absl::string_view UpToLineBreak(absl::string_view field) {
  return field.substr(0, field.find_first_of(absl::string_view("\r\n\0", 3)));
}

// Appends the event's lines after its id line: event, data, blank line.
void AppendSseBody(absl::string_view event, absl::string_view data, std::string& out) {
  if (!event.empty()) absl::StrAppend(&out, "event: ", UpToLineBreak(event), "\n");
  size_t start = 0;
  while (true) {
    const size_t brk = data.find_first_of("\r\n", start);
    const absl::string_view line =
        data.substr(start, brk == absl::string_view::npos ? absl::string_view::npos : brk - start);
    out.append("data: ");
    out.append(line.data(), line.size());
    out.push_back('\n');
    if (brk == absl::string_view::npos) break;
    start = brk + 1;
    if (data[brk] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  out.push_back('\n');
}

}  // namespace

std::string EncodeSseEvent(absl::string_view id, absl::string_view event, absl::string_view data) {
  std::string out;
  out.reserve(data.size() + id.size() + event.size() + 32);
  absl::StrAppend(&out, "id: ", UpToLineBreak(id), "\n");
  AppendSseBody(event, data, out);
  return out;
}

std::string EncodeSharedFrame(absl::string_view event, absl::string_view data) {
  std::string out;
  out.reserve(data.size() + event.size() + 32);
  AppendSseBody(event, data, out);
  out.append("\r\n");
  return out;
}

size_t EncodeFrameHead(uint64_t epoch, uint64_t offset, size_t frame_size, char* out) {
  char id_line[4 + MessageId::kMaxText + 1] = {'i', 'd', ':', ' '};
  size_t id_length = 4 + MessageId{epoch, offset}.Write(id_line + 4);
  id_line[id_length++] = '\n';
  // The chunk's payload: the id line and the frame without its closing CRLF.
  size_t payload = id_length + frame_size - 2;
  char hex[16];
  size_t n = 0;
  do {
    hex[n++] = "0123456789abcdef"[payload & 0xf];
    payload >>= 4;
  } while (payload != 0);
  size_t length = 0;
  while (n > 0) out[length++] = hex[--n];
  out[length++] = '\r';
  out[length++] = '\n';
  std::memcpy(out + length, id_line, id_length);
  return length + id_length;
}

std::string EncodeSseIdOnly(absl::string_view id) {
  return absl::StrCat("id: ", UpToLineBreak(id), "\n\n");
}

std::string EncodeSseRetry(uint32_t retry_ms) { return absl::StrCat("retry: ", retry_ms, "\n\n"); }

std::string EncodeSseComment(absl::string_view text) {
  return absl::StrCat(": ", UpToLineBreak(text), "\n\n");
}

std::string EncodeChunk(absl::string_view payload) {
  return absl::StrCat(absl::Hex(payload.size()), "\r\n", payload, "\r\n");
}

absl::string_view LastChunk() { return "0\r\n\r\n"; }

}  // namespace pushbroker
