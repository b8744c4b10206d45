// Encoding of Server-Sent Events and of HTTP/1.1 chunks. Pure functions;
// safe from any thread.
#ifndef PUSH_BROKER_HTTP_EDGE_SSE_SSE_FORMAT_H_
#define PUSH_BROKER_HTTP_EDGE_SSE_SSE_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace pushbroker {

// One event: `id:`, `event:` when not empty, one `data:` line per line of
// `data`, and a blank line. CR, LF and CRLF in data all end a line, as a
// WHATWG parser reads them; so the parser gets `data` back with each line
// break as LF. `id` and `event` must hold no CR, LF or NUL (validated
// upstream); they are cut at the first such byte here as a last defence.
std::string EncodeSseEvent(absl::string_view id, absl::string_view event, absl::string_view data);

// What follows the `id:` line of an event (EncodeSseEvent without it), and
// the CRLF that ends its HTTP chunk: the bytes every mailbox's copy of one
// message shares.
std::string EncodeSharedFrame(absl::string_view event, absl::string_view data);

// The start of a live message's HTTP chunk whose rest is a shared frame of
// `frame_size` bytes: the chunk size, CRLF and `id: <id>` line. Written to
// `out` (room for kMaxFrameHead bytes); returns its length.
inline constexpr size_t kMaxFrameHead = 16 + 2 + 4 + 37 + 1;
size_t EncodeFrameHead(uint64_t epoch, uint64_t offset, size_t frame_size, char* out);

// `id: <id>` and a blank line: sets the parser's last event id without
// dispatching an event (the WHATWG parser skips an event with no data).
std::string EncodeSseIdOnly(absl::string_view id);

// `retry: <ms>` on its own, as a block of its own.
std::string EncodeSseRetry(uint32_t retry_ms);

// A comment line (ignored by EventSource; keeps proxies and peers awake).
std::string EncodeSseComment(absl::string_view text);

// One HTTP/1.1 chunk carrying `payload` (which must not be empty).
std::string EncodeChunk(absl::string_view payload);

// The chunk that ends a chunked body.
absl::string_view LastChunk();

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SSE_SSE_FORMAT_H_
