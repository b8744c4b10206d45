// An epoll set with an eventfd registered for wake-ups: what the edge's
// epoll threads (SseLoop, RequestGate) each start from.
#ifndef PUSH_BROKER_HTTP_EDGE_SERVER_EPOLL_WAKEUP_H_
#define PUSH_BROKER_HTTP_EDGE_SERVER_EPOLL_WAKEUP_H_

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace pushbroker {

// Sets `epoll_fd` and `wake_fd` (the caller closes them); the wake fd is
// non-blocking and readable in the set.
inline absl::Status CreateEpollWithWakeFd(int& epoll_fd, int& wake_fd) {
  epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return absl::InternalError(absl::StrCat("epoll_create1: ", strerror(errno)));
  wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake_fd;
  if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &event) != 0) {
    return absl::InternalError(absl::StrCat("epoll_ctl: ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SERVER_EPOLL_WAKEUP_H_
