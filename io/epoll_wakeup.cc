#include "io/epoll_wakeup.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace pushbroker {

absl::StatusOr<EpollWakeup> EpollWakeup::Create() {
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return absl::InternalError(absl::StrCat("epoll_create1: ", strerror(errno)));
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    const int error = errno;
    ::close(epoll_fd);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(error)));
  }
  EpollWakeup wakeup(epoll_fd, wake_fd);  // owns both from here
  if (!wakeup.Add(wake_fd, EPOLLIN)) {
    return absl::InternalError(absl::StrCat("epoll_ctl: ", strerror(errno)));
  }
  return wakeup;
}

EpollWakeup::EpollWakeup(EpollWakeup&& other) noexcept
    : epoll_fd_(std::exchange(other.epoll_fd_, -1)), wake_fd_(std::exchange(other.wake_fd_, -1)) {}

EpollWakeup& EpollWakeup::operator=(EpollWakeup&& other) noexcept {
  if (this != &other) {
    CloseAll();
    epoll_fd_ = std::exchange(other.epoll_fd_, -1);
    wake_fd_ = std::exchange(other.wake_fd_, -1);
  }
  return *this;
}

EpollWakeup::~EpollWakeup() { CloseAll(); }

void EpollWakeup::CloseAll() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  wake_fd_ = epoll_fd_ = -1;
}

void EpollWakeup::Signal() const {
  const uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof(one)) < 0) return;  // see the header: harmless
}

void EpollWakeup::Clear() const {
  uint64_t count;
  if (::read(wake_fd_, &count, sizeof(count)) < 0) return;  // nothing was pending
}

bool EpollWakeup::Add(int fd, uint32_t events) const {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) == 0;
}

void EpollWakeup::Remove(int fd) const { ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

}  // namespace pushbroker
