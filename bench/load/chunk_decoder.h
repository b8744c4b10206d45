// ChunkDecoder: undoes HTTP/1.1 chunked transfer coding incrementally, as
// bytes arrive in any split. Not thread-safe: one per connection.
#ifndef PUSH_BROKER_BENCH_LOAD_CHUNK_DECODER_H_
#define PUSH_BROKER_BENCH_LOAD_CHUNK_DECODER_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace pushbroker::bench {

class ChunkDecoder {
 public:
  // Appends the body bytes found in `wire` to `body`. False on malformed
  // input; `finished()` once the last (empty) chunk arrived.
  bool Feed(absl::string_view wire, std::string* body);
  bool finished() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailer, kDone };
  State state_ = State::kSize;
  std::string line_;      // a size or trailer line so far
  size_t remaining_ = 0;  // data bytes left in this chunk
};

}  // namespace pushbroker::bench

#endif  // PUSH_BROKER_BENCH_LOAD_CHUNK_DECODER_H_
