#include "http_edge/sse/sse_format.h"

#include "absl/strings/str_cat.h"

namespace pushbroker {
namespace {

absl::string_view UpToLineBreak(absl::string_view field) {
  return field.substr(0, field.find_first_of(absl::string_view("\r\n\0", 3)));
}

}  // namespace

std::string EncodeSseEvent(absl::string_view id, absl::string_view event, absl::string_view data) {
  std::string out;
  out.reserve(data.size() + id.size() + event.size() + 32);
  absl::StrAppend(&out, "id: ", UpToLineBreak(id), "\n");
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
  return out;
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
