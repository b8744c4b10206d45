// ListenSocketOptions: what our HTTP listeners set on their sockets instead
// of cpp-httplib's default. The default adds SO_REUSEPORT, with which Linux
// lets a second process bind the same port (even hands it out for port 0)
// and the two silently share connections. SO_REUSEADDR alone still allows a
// quick restart.
#ifndef PUSH_BROKER_HTTP_EDGE_SERVER_LISTEN_SOCKET_OPTIONS_H_
#define PUSH_BROKER_HTTP_EDGE_SERVER_LISTEN_SOCKET_OPTIONS_H_

#include <sys/socket.h>

#include "httplib.h"

namespace pushbroker {

inline void ListenSocketOptions(socket_t sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_SERVER_LISTEN_SOCKET_OPTIONS_H_
