// EpollWakeup: an epoll set with an eventfd registered in it, owned as one
// resource: what each of the edge's epoll threads (SseLoop, RequestGate)
// waits on. Other threads call Signal() to wake the thread in epoll_wait().
// Move-only; Signal() is safe from any thread, the rest is for the owner.
#ifndef PUSH_BROKER_IO_EPOLL_WAKEUP_H_
#define PUSH_BROKER_IO_EPOLL_WAKEUP_H_

#include <sys/epoll.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace pushbroker {

class EpollWakeup {
 public:
  // The epoll set, and a non-blocking eventfd readable in it.
  static absl::StatusOr<EpollWakeup> Create();

  EpollWakeup() = default;  // owns nothing; Create() makes a real one
  EpollWakeup(EpollWakeup&& other) noexcept;
  EpollWakeup& operator=(EpollWakeup&& other) noexcept;
  EpollWakeup(const EpollWakeup&) = delete;
  EpollWakeup& operator=(const EpollWakeup&) = delete;
  ~EpollWakeup();  // closes both descriptors

  int epoll_fd() const { return epoll_fd_; }
  // Whether an event from epoll_wait() is the wake-up rather than a socket.
  bool IsWakeup(const epoll_event& event) const { return event.data.fd == wake_fd_; }

  // Makes the eventfd readable. A failed write is harmless: the only way it
  // fails on a non-blocking eventfd is EAGAIN, when the counter is already
  // near its maximum, which means a wake-up is pending anyway.
  void Signal() const;
  // Resets the eventfd after a wake-up, so the next Signal() wakes again.
  // Nothing to read (EAGAIN) just means no wake-up was pending.
  void Clear() const;

  // Adds or removes a socket for `events`, with data.fd = `fd`.
  bool Add(int fd, uint32_t events) const;
  void Remove(int fd) const;

 private:
  EpollWakeup(int epoll_fd, int wake_fd) : epoll_fd_(epoll_fd), wake_fd_(wake_fd) {}
  void CloseAll();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_IO_EPOLL_WAKEUP_H_
