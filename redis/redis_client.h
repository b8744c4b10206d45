// RedisClient: one pipelined RESP2 connection to one Redis node, owned by an
// I/O thread of its own (epoll, non-blocking socket). Commands from any
// thread are queued, written in order as one stream of bytes, and answered
// in order. It connects on demand, says who it is (AUTH, CLIENT SETNAME),
// reads the node's run_id (INFO server: the incarnation fence of
// docs/redis.md), and reconnects with backoff after a failure.
//
// Outcomes are exact about what may have happened: a command never written
// fails with UNAVAILABLE "not sent" (safe to retry); a command written whose
// reply did not come within io_timeout, or whose connection broke, fails
// with UNAVAILABLE "outcome unknown". An error reply is a reply, not a
// failure. Submit() and Call() are safe for concurrent access from multiple
// threads; callbacks run on the I/O thread and must not block.
#ifndef PUSH_BROKER_REDIS_REDIS_CLIENT_H_
#define PUSH_BROKER_REDIS_REDIS_CLIENT_H_

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "io/epoll_wakeup.h"
#include "redis/resp.h"

namespace pushbroker::redis {

class RedisClient;

struct RedisClientOptions {
  std::string address;                      // "host:port"; the host is resolved once, at Start()
  std::string password;                     // AUTH with it when not empty
  std::string client_name = "push-broker";  // CLIENT SETNAME
  // A written command with no reply after this long fails "outcome
  // unknown", and its connection is closed; an unsent one fails "not sent".
  absl::Duration io_timeout = absl::Seconds(3);
  // Reconnect delays: `min_backoff`, doubling to `max_backoff`, each with up
  // to half again of random jitter.
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Commands queued or awaiting replies; past it Submit() fails at once
  // with RESOURCE_EXHAUSTED ("redis backlog full").
  size_t max_pending = 64 * 1024;
  // A seam for tests: makes a socket already connected (or connecting) to
  // the node, or -1 with errno set. Null: a non-blocking TCP connect.
  std::function<int()> connect;
  // Commands run on every new connection after the client says who it is
  // and before anything else (FUNCTION LOAD): an error reply fails the
  // handshake, and the connection is tried again later.
  std::vector<std::vector<std::string>> handshake_commands;
  // Reconnects after a failure even with nothing to send (a subscriber).
  bool stay_connected = false;
  // Pub/sub: replies that are pushes ("smessage", "sunsubscribe") go here
  // instead of answering a command. On the I/O thread; must not block.
  std::function<void(RespValue)> on_push;
  // After each handshake (given the client, which may not be returned by
  // Start() yet), and after each connection lost (with why). On the I/O
  // thread; may Submit(), must not block.
  std::function<void(RedisClient&)> on_ready;
  std::function<void(absl::string_view)> on_lost;
};

// Options for a plain connection to `address`, all else default.
RedisClientOptions ConnectionTo(std::string address);

// Options for a connection the broker keeps up (it reconnects even with
// nothing to send), named `name` on the server.
RedisClientOptions KeptConnection(std::string address, std::string password,
                                  absl::Duration io_timeout, std::string name);

class RedisClient {
 public:
  using Callback = std::function<void(absl::StatusOr<RespValue>)>;

  static absl::StatusOr<std::unique_ptr<RedisClient>> Start(RedisClientOptions options);
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;
  ~RedisClient();  // fails what is pending with UNAVAILABLE, joins the thread

  // Queues `args` (a command and its arguments); `done` gets the reply.
  // With `run_id`, the command is sent only to that process of the node:
  // if the connection is redone to another (a restart, a failover), it
  // fails "not sent" instead, so a command that carries the incarnation
  // fence never runs under the wrong one. With `asking`, the command goes
  // right behind an ASKING (Redis Cluster: a slot being imported here).
  void Submit(std::vector<std::string> args, Callback done, std::string run_id = "",
              bool asking = false) ABSL_LOCKS_EXCLUDED(mu_);
  // Submit, and wait for the outcome.
  absl::StatusOr<RespValue> Call(std::vector<std::string> args) ABSL_LOCKS_EXCLUDED(mu_);
  // Submits all (pipelined, in order, each with `run_id` as Submit takes
  // it) and waits for every outcome, in order.
  std::vector<absl::StatusOr<RespValue>> CallAll(std::vector<std::vector<std::string>> commands,
                                                 const std::string& run_id = "")
      ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the connection and makes a new one (a subscriber that went deaf).
  void Reconnect() ABSL_LOCKS_EXCLUDED(mu_);

  // The node's run_id at the last handshake ("" before the first).
  std::string run_id() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the connection is up and past its handshake.
  bool connected() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Request {
    std::string bytes;  // the encoded command
    Callback done;
    absl::Time deadline;     // to be sent by; once sent, to be answered by
    bool internal = false;   // part of the handshake
    std::string run_id;      // send only to this process ("" any)
    uint64_t bytes_end = 0;  // once queued to write: where its bytes end in the stream
    int skip_replies = 0;    // replies to drop before its own (that of ASKING)
  };
  enum class State { kDisconnected, kConnecting, kHandshaking, kReady };

  RedisClient(RedisClientOptions options, sockaddr_storage address, socklen_t address_length,
              EpollWakeup wakeup);
  void Run();
  void TakeSubmitted() ABSL_LOCKS_EXCLUDED(mu_);
  void Connect();
  void OnConnected();
  void OnReadable();
  void Flush();
  // Closes the socket: written requests fail "outcome unknown"; unsent
  // ones wait for the next connection. Schedules the reconnect.
  void Disconnect(absl::string_view why);
  void CheckDeadlines(absl::Time now);
  void DeliverReply(RespValue reply);
  // Ends a user's request that was never written.
  void FailUnsent(Request request, absl::string_view why);
  bool IsPush(const RespValue& reply) const;
  static Request HandshakeStep(std::string bytes, Callback done, absl::Time deadline);
  void SetState(State state) ABSL_LOCKS_EXCLUDED(mu_);
  // The requests to write next: the handshake's while it runs, then users'.
  bool HasWork() const;

  const RedisClientOptions options_;
  const sockaddr_storage address_;
  const socklen_t address_length_;
  EpollWakeup wakeup_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::deque<Request> submitted_ ABSL_GUARDED_BY(mu_);
  size_t pending_ ABSL_GUARDED_BY(mu_) = 0;  // submitted and not yet answered
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool reconnect_ ABSL_GUARDED_BY(mu_) = false;
  State state_ ABSL_GUARDED_BY(mu_) = State::kDisconnected;
  std::string run_id_ ABSL_GUARDED_BY(mu_);

  // The I/O thread's own.
  int fd_ = -1;
  State io_state_ = State::kDisconnected;
  std::string io_run_id_;          // of the current connection, once known
  std::deque<Request> handshake_;  // not yet written, handshake first
  std::deque<Request> unsent_;     // users' requests not yet written
  std::deque<Request> in_flight_;  // written, awaiting replies, in order
  std::string out_;                // bytes of in_flight_ not yet written
  uint64_t written_ = 0;           // bytes written on this client, all connections
  absl::Time connect_deadline_;
  std::string last_error_;  // why the last connection failed, for "not sent"
  std::unique_ptr<RespReader> reader_;
  absl::Time next_connect_ = absl::InfinitePast();
  absl::Duration backoff_;
  absl::BitGen random_;
};

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_REDIS_CLIENT_H_
