// SocketStream: httplib::Stream over a connected, blocking TCP socket, with
// buffered reads and poll()-based timeouts. Lets HandoffServer run the
// keep-alive loop itself. Not thread-safe: one connection thread uses it.
#ifndef PUSH_BROKER_HTTP_EDGE_SERVER_SOCKET_STREAM_H_
#define PUSH_BROKER_HTTP_EDGE_SERVER_SOCKET_STREAM_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "httplib.h"

namespace pushbroker {

class SocketStream final : public httplib::Stream {
 public:
  // Does not own `fd`.
  SocketStream(int fd, absl::Duration read_timeout, absl::Duration write_timeout);

  // Bytes read from the socket that httplib has not consumed yet.
  absl::string_view buffered() const {
    return absl::string_view(buffer_ + buffer_begin_, buffer_end_ - buffer_begin_);
  }

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  const int fd_;
  const absl::Duration read_timeout_;
  const absl::Duration write_timeout_;
  // httplib reads a request a byte at a time; this buffer saves the syscalls.
  char buffer_[4096];
  size_t buffer_begin_ = 0;
  size_t buffer_end_ = 0;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SERVER_SOCKET_STREAM_H_
