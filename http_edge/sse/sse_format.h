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
