// RawConnection: a plain TCP connection to 127.0.0.1, for tests that speak
// broken or hostile HTTP on purpose. Not thread-safe.
#ifndef PUSH_BROKER_TESTS_SUPPORT_RAW_CONNECTION_H_
#define PUSH_BROKER_TESTS_SUPPORT_RAW_CONNECTION_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace pushbroker::testing {

// A blocking TCP socket connected to 127.0.0.1:port, or -1.
int ConnectLoopback(int port);

class RawConnection {
 public:
  // Null when the connection fails.
  static std::unique_ptr<RawConnection> Connect(int port);
  ~RawConnection();

  bool Send(absl::string_view bytes);
  // Everything received until the peer closes or `timeout` passes.
  std::string ReadUntilClose(absl::Duration timeout = absl::Seconds(5));
  // True when the peer closed (or reset) the connection within `timeout`.
  bool ClosedWithin(absl::Duration timeout);
  // Makes the close abortive: the peer sees a reset instead of a FIN.
  void ResetOnClose();

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_RAW_CONNECTION_H_
