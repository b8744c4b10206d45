// StreamMemory: what every SSE stream of this process holds for its peer
// together (bytes queued by publishers, or taken by the loop and not yet
// written), against one budget. Past it, a stream holding more than a small
// floor is cut as a slow consumer, so a crowd of peers that stopped reading
// cannot hold more than the budget between them, whatever each one's own
// limit. Safe for concurrent access from multiple threads.
#ifndef PUSH_BROKER_HTTP_EDGE_SSE_STREAM_MEMORY_H_
#define PUSH_BROKER_HTTP_EDGE_SSE_STREAM_MEMORY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace pushbroker {

class StreamMemory {
 public:
  // A stream holding at most `floor` bytes is never cut for the budget: a
  // healthy stream's queue stays far below it.
  static constexpr size_t kFloorBytes = 64 * 1024;

  explicit StreamMemory(uint64_t budget) : budget_(budget) {}

  void Add(size_t bytes) { bytes_.fetch_add(bytes, std::memory_order_relaxed); }
  void Release(size_t bytes) { bytes_.fetch_sub(bytes, std::memory_order_relaxed); }
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  bool over_budget() const { return bytes() > budget_; }
  // Whether a stream holding `held` bytes must go now.
  bool MustCut(size_t held) const { return held > kFloorBytes && over_budget(); }

 private:
  const uint64_t budget_;
  std::atomic<uint64_t> bytes_{0};
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SSE_STREAM_MEMORY_H_
