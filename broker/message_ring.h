// MessageRing: one mailbox's messages in offset order, as a ring buffer that
// grows by doubling and shrinks by half when a quarter full. Empty, it holds
// no memory (a std::deque holds about 600 bytes even then, which at a
// million mailboxes was most of the store's overhead). Not thread-safe: the
// store's shard lock guards it.
#ifndef PUSH_BROKER_BROKER_MESSAGE_RING_H_
#define PUSH_BROKER_BROKER_MESSAGE_RING_H_

#include <cstddef>
#include <memory>
#include <utility>

#include "broker/message.h"

namespace pushbroker {

class MessageRing {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }

  // REQUIRES: index < size().
  const Message& operator[](size_t index) const { return slots_[(head_ + index) % capacity_]; }
  // REQUIRES: !empty().
  const Message& front() const { return slots_[head_]; }

  void push_back(Message message) {
    if (size_ == capacity_) Resize(capacity_ == 0 ? 1 : capacity_ * 2);
    slots_[(head_ + size_) % capacity_] = std::move(message);
    ++size_;
  }

  // REQUIRES: !empty(). Releases the message's payload at once.
  void pop_front() {
    slots_[head_] = Message{};
    head_ = (head_ + 1) % capacity_;
    --size_;
    if (size_ == 0) {
      slots_.reset();
      capacity_ = head_ = 0;
    } else if (capacity_ >= 8 && size_ <= capacity_ / 4) {
      Resize(capacity_ / 2);
    }
  }

  // Bytes this ring holds apart from the payloads it shares.
  size_t AllocatedBytes() const { return capacity_ * sizeof(Message); }

 private:
  void Resize(size_t capacity) {
    std::unique_ptr<Message[]> slots(new Message[capacity]);
    for (size_t i = 0; i < size_; ++i) slots[i] = std::move(slots_[(head_ + i) % capacity_]);
    slots_ = std::move(slots);
    capacity_ = capacity;
    head_ = 0;
  }

  std::unique_ptr<Message[]> slots_;
  size_t capacity_ = 0;
  size_t head_ = 0;  // index of the oldest message
  size_t size_ = 0;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_MESSAGE_RING_H_
