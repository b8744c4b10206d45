// OutChunk: bytes ready for a stream's socket (one HTTP chunk, or the last
// chunk), with what they mean for delivery accounting.
#ifndef PUSH_BROKER_HTTP_EDGE_SSE_OUT_CHUNK_H_
#define PUSH_BROKER_HTTP_EDGE_SSE_OUT_CHUNK_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace pushbroker {

// A plain value type. Its bytes are up to three parts, written in order: a
// short head of its own held inline (a live message's chunk size and `id:`
// line), bytes of its own, and bytes shared with the chunks of other streams
// (the rest of a message's frame, encoded once per publish). So a broadcast
// costs each stream no allocation and one iovec pair.
struct OutChunk {
  // Chunk size (16 hex digits), CRLF, "id: ", an id (12 + 1 + 20) and LF.
  static constexpr size_t kMaxHead = 64;

  OutChunk() = default;
  // A chunk of the stream's own bytes.
  explicit OutChunk(std::string own, absl::Time published = absl::InfinitePast(),
                    uint64_t through = 0, uint64_t first = 0)
      : bytes(std::move(own)),
        published_at(published),
        through_offset(through),
        first_offset(first) {}
  // A head (at most kMaxHead bytes) followed by shared bytes.
  OutChunk(absl::string_view own_head, std::shared_ptr<const std::string> shared_rest,
           absl::Time published, uint64_t through, uint64_t first)
      : head_size(static_cast<uint8_t>(own_head.size())),
        shared(std::move(shared_rest)),
        published_at(published),
        through_offset(through),
        first_offset(first) {
    std::memcpy(head, own_head.data(), own_head.size());
  }

  // Every byte to write; the bytes this chunk alone holds (a shared frame's
  // memory is counted once, by whoever made it).
  size_t size() const { return own_size() + (shared ? shared->size() : 0); }
  size_t own_size() const { return head_size + bytes.size(); }
  // The non-empty parts in write order; returns how many (at most 3).
  int Parts(absl::string_view parts[3]) const {
    int count = 0;
    if (head_size > 0) parts[count++] = absl::string_view(head, head_size);
    if (!bytes.empty()) parts[count++] = bytes;
    if (shared && !shared->empty()) parts[count++] = *shared;
    return count;
  }

  char head[kMaxHead];
  uint8_t head_size = 0;
  std::string bytes;
  std::shared_ptr<const std::string> shared;
  absl::Time published_at = absl::InfinitePast();  // InfinitePast: not a live message
  // The highest mailbox offset whose event these bytes complete (0: none).
  // Once the peer acknowledges them, the client has the messages through it.
  uint64_t through_offset = 0;
  // The lowest mailbox offset whose event these bytes hold in full (0:
  // none): once written, messages first_offset..through_offset are delivered.
  uint64_t first_offset = 0;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SSE_OUT_CHUNK_H_
