// StreamSlots and StreamSlot: the edge's --max_connections, counted by an
// owner. StreamSlots::TryTake() hands out a move-only StreamSlot while fewer
// than the limit are out; the place is given back when the slot is
// destroyed, whichever path a stream or poll ends by. StreamSlots is safe for
// concurrent access from multiple threads; a StreamSlot belongs to one owner
// at a time.
#ifndef PUSH_BROKER_HTTP_EDGE_SSE_STREAM_SLOT_H_
#define PUSH_BROKER_HTTP_EDGE_SSE_STREAM_SLOT_H_

#include <atomic>
#include <cstddef>
#include <optional>
#include <utility>

namespace pushbroker {

class StreamSlots;

class StreamSlot {
 public:
  StreamSlot() = default;  // holds no place
  StreamSlot(StreamSlot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
  StreamSlot& operator=(StreamSlot&& other) noexcept {
    if (this != &other) {
      Release();
      owner_ = std::exchange(other.owner_, nullptr);
    }
    return *this;
  }
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;
  ~StreamSlot() { Release(); }

  bool held() const { return owner_ != nullptr; }
  inline void Release();

 private:
  friend class StreamSlots;
  explicit StreamSlot(StreamSlots* owner) : owner_(owner) {}
  StreamSlots* owner_ = nullptr;
};

class StreamSlots {
 public:
  explicit StreamSlots(size_t limit) : limit_(limit) {}
  StreamSlots(const StreamSlots&) = delete;
  StreamSlots& operator=(const StreamSlots&) = delete;

  // A place, or nullopt when `limit` are out. Every slot must be released
  // (destroyed) before this object is.
  std::optional<StreamSlot> TryTake() {
    size_t current = in_use_.load();
    do {
      if (current >= limit_) return std::nullopt;
    } while (!in_use_.compare_exchange_weak(current, current + 1));
    return StreamSlot(this);
  }
  size_t in_use() const { return in_use_.load(); }
  size_t limit() const { return limit_; }

 private:
  friend class StreamSlot;
  const size_t limit_;
  std::atomic<size_t> in_use_{0};
};

void StreamSlot::Release() {
  if (owner_ != nullptr) std::exchange(owner_, nullptr)->in_use_.fetch_sub(1);
}

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SSE_STREAM_SLOT_H_
