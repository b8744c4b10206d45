#include "http_edge/server/accept_loop.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace pushbroker {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(1);
constexpr absl::Duration kMaxBackoff = absl::Milliseconds(100);
// How often a Run() with nothing to accept looks at the stop flag, should a
// wake-up be missed.
constexpr absl::Duration kIdleCheck = absl::Milliseconds(500);

enum class AcceptError { kRetryNow, kBackOff, kFatal };

AcceptError Classify(int error) {
  switch (error) {
    case EAGAIN:
#if EAGAIN != EWOULDBLOCK
    case EWOULDBLOCK:
#endif
    case EINTR:
      return AcceptError::kRetryNow;
    // Out of descriptors, kernel buffers or memory: room comes back as
    // connections close. Retrying at once would spin on the readable socket.
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return AcceptError::kBackOff;
    // The connection died before it was accepted (a reset in the
    // handshake), or Linux passed a network error of the new socket on, as
    // accept(2) says it may: that connection is lost, the listener is fine.
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case ETIMEDOUT:
      return AcceptError::kRetryNow;
    default:  // EBADF, EINVAL, ENOTSOCK, EFAULT: the listening socket is gone
      return AcceptError::kFatal;
  }
}

}  // namespace

AcceptLoop::AcceptLoop(AcceptFunction accept)
    : accept_(accept ? std::move(accept)
                     : [](int fd) { return ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC); }),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

AcceptLoop::~AcceptLoop() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void AcceptLoop::Stop() {
  stopped_.store(true);
  const uint64_t one = 1;
  // A failed write leaves the counter already non-zero (EAGAIN) or the fd
  // unusable; either way Run() sees the flag within kIdleCheck.
  ssize_t unused = ::write(wake_fd_, &one, sizeof(one));
  (void)unused;
}

void AcceptLoop::WaitFor(int listen_fd, absl::Duration timeout) {
  pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  const nfds_t count = listen_fd >= 0 ? 2 : 1;
  ::poll(listen_fd >= 0 ? fds : fds + 1, count,
         static_cast<int>(absl::ToInt64Milliseconds(timeout)));
}

absl::Status AcceptLoop::Run(int listen_fd, const AcceptedCallback& on_accepted) {
  if (wake_fd_ < 0) return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  const int flags = ::fcntl(listen_fd, F_GETFL, 0);
  if (flags < 0 || ::fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the listening socket is not usable: ", strerror(errno)));
  }
  absl::Duration backoff = kFirstBackoff;
  while (!stopped_.load()) {
    const int fd = accept_(listen_fd);
    if (fd >= 0) {
      backoff = kFirstBackoff;
      stats_.accepted.fetch_add(1, std::memory_order_relaxed);
      on_accepted(fd);
      continue;
    }
    const int error = errno;
    switch (Classify(error)) {
      case AcceptError::kRetryNow:
        if (error == EAGAIN || error == EWOULDBLOCK) {
          WaitFor(listen_fd, kIdleCheck);
        } else if (error != EINTR) {
          stats_.connection_errors.fetch_add(1, std::memory_order_relaxed);
        }
        break;
      case AcceptError::kBackOff:
        stats_.resource_errors.fetch_add(1, std::memory_order_relaxed);
        WaitFor(-1, backoff);  // only Stop() cuts it short
        backoff = std::min(backoff * 2, kMaxBackoff);
        break;
      case AcceptError::kFatal:
        return absl::InternalError(absl::StrCat("accept: ", strerror(error)));
    }
  }
  return absl::OkStatus();
}

}  // namespace pushbroker
