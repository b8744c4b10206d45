#include "bench/load/chunk_decoder.h"

#include <algorithm>
#include <cstdlib>

namespace pushbroker::bench {

bool ChunkDecoder::Feed(absl::string_view wire, std::string* body) {
  while (!wire.empty() && state_ != State::kDone) {
    switch (state_) {
      case State::kSize:
      case State::kDataEnd:
      case State::kTrailer: {
        const size_t newline = wire.find('\n');
        const size_t take = newline == absl::string_view::npos ? wire.size() : newline + 1;
        line_.append(wire.data(), take);
        wire.remove_prefix(take);
        if (newline == absl::string_view::npos) {
          if (line_.size() > 1024) return false;
          break;
        }
        if (state_ == State::kDataEnd) {
          if (line_ != "\r\n") return false;
          state_ = State::kSize;
        } else if (state_ == State::kTrailer) {
          if (line_ == "\r\n") state_ = State::kDone;
        } else {
          char* end = nullptr;
          remaining_ = std::strtoul(line_.c_str(), &end, 16);
          if (end == line_.c_str()) return false;
          state_ = remaining_ == 0 ? State::kTrailer : State::kData;
        }
        line_.clear();
        break;
      }
      case State::kData: {
        const size_t take = std::min(remaining_, wire.size());
        body->append(wire.data(), take);
        wire.remove_prefix(take);
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDataEnd;
        break;
      }
      case State::kDone:
        break;
    }
  }
  return true;
}

}  // namespace pushbroker::bench
