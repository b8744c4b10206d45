#include "redis/redis_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"

namespace pushbroker::redis {
namespace {

constexpr absl::Duration kTick = absl::Milliseconds(20);

absl::StatusOr<std::pair<sockaddr_storage, socklen_t>> Resolve(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", address, "' is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int error = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (error != 0 || found == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve '", host, "': ", gai_strerror(error)));
  }
  std::pair<sockaddr_storage, socklen_t> out{};
  std::memcpy(&out.first, found->ai_addr, found->ai_addrlen);
  out.second = found->ai_addrlen;
  ::freeaddrinfo(found);
  return out;
}

// "run_id:<hex>" from INFO server's text.
std::string RunIdOf(absl::string_view info) {
  for (absl::string_view line : absl::StrSplit(info, absl::ByAnyChar("\r\n"))) {
    if (absl::ConsumePrefix(&line, "run_id:")) return std::string(line);
  }
  return "";
}

}  // namespace

RedisClientOptions ConnectionTo(std::string address) {
  RedisClientOptions options;
  options.address = std::move(address);
  return options;
}

RedisClientOptions KeptConnection(std::string address, std::string password,
                                  absl::Duration io_timeout, std::string name) {
  RedisClientOptions options;
  options.address = std::move(address);
  options.password = std::move(password);
  options.io_timeout = io_timeout;
  options.client_name = std::move(name);
  options.stay_connected = true;
  return options;
}

absl::StatusOr<std::unique_ptr<RedisClient>> RedisClient::Start(RedisClientOptions options) {
  sockaddr_storage address{};
  socklen_t length = 0;
  if (!options.connect) {
    absl::StatusOr<std::pair<sockaddr_storage, socklen_t>> resolved = Resolve(options.address);
    if (!resolved.ok()) return resolved.status();
    address = resolved->first;
    length = resolved->second;
  }
  absl::StatusOr<EpollWakeup> wakeup = EpollWakeup::Create();
  if (!wakeup.ok()) return wakeup.status();
  std::unique_ptr<RedisClient> client(
      new RedisClient(std::move(options), address, length, *std::move(wakeup)));
  client->thread_ = std::thread([raw = client.get()] { raw->Run(); });
  return client;
}

RedisClient::RedisClient(RedisClientOptions options, sockaddr_storage address,
                         socklen_t address_length, EpollWakeup wakeup)
    : options_(std::move(options)),
      address_(address),
      address_length_(address_length),
      wakeup_(std::move(wakeup)),
      backoff_(options_.min_backoff) {}

RedisClient::~RedisClient() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  wakeup_.Signal();
  if (thread_.joinable()) thread_.join();
}

void RedisClient::Submit(std::vector<std::string> args, Callback done, std::string run_id,
                         bool asking) {
  absl::Status refused;
  bool first_waiting = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError("redis: not sent: the client is stopping");
    } else if (pending_ >= options_.max_pending) {
      refused = absl::ResourceExhaustedError(
          absl::StrCat("redis backlog full: ", options_.max_pending, " commands pending"));
    } else {
      ++pending_;
      first_waiting = submitted_.empty();
      Request request{EncodeCommand(args), std::move(done), absl::Now() + options_.io_timeout,
                      /*internal=*/false, std::move(run_id)};
      if (asking) {
        request.bytes = EncodeCommand({"ASKING"}) + request.bytes;
        request.skip_replies = 1;
      }
      submitted_.push_back(std::move(request));
    }
  }
  if (!refused.ok()) return done(std::move(refused));
  // One wake-up per batch: behind a waiting command, the I/O thread takes
  // this one too (it takes the whole queue after each wake-up it clears).
  if (first_waiting) wakeup_.Signal();
}

absl::StatusOr<RespValue> RedisClient::Call(std::vector<std::string> args) {
  absl::Notification done;
  absl::StatusOr<RespValue> result;
  Submit(std::move(args), [&](absl::StatusOr<RespValue> reply) {
    result = std::move(reply);
    done.Notify();
  });
  done.WaitForNotification();  // the I/O thread ends every request by its deadline
  return result;
}

std::vector<absl::StatusOr<RespValue>> RedisClient::CallAll(
    std::vector<std::vector<std::string>> commands, const std::string& run_id) {
  std::vector<absl::StatusOr<RespValue>> results(commands.size(), absl::UnknownError("no outcome"));
  absl::Mutex done_mu;
  size_t left = commands.size();
  for (size_t i = 0; i < commands.size(); ++i) {
    Submit(
        std::move(commands[i]),
        [&, i](absl::StatusOr<RespValue> reply) {
          results[i] = std::move(reply);
          absl::MutexLock lock(&done_mu);
          --left;
        },
        run_id);
  }
  absl::MutexLock lock(&done_mu);
  done_mu.Await(absl::Condition(
      +[](size_t* n) { return *n == 0; }, &left));  // each ends by its deadline
  return results;
}

void RedisClient::Reconnect() {
  {
    absl::MutexLock lock(&mu_);
    reconnect_ = true;
  }
  wakeup_.Signal();
}

std::string RedisClient::run_id() const {
  absl::MutexLock lock(&mu_);
  return run_id_;
}

bool RedisClient::connected() const {
  absl::MutexLock lock(&mu_);
  return state_ == State::kReady;
}

void RedisClient::SetState(State state) {
  io_state_ = state;
  absl::MutexLock lock(&mu_);
  state_ = state;
}

void RedisClient::TakeSubmitted() {
  bool reconnect = false;
  {
    absl::MutexLock lock(&mu_);
    std::swap(reconnect, reconnect_);
  }
  if (reconnect && fd_ >= 0) Disconnect("asked to reconnect");
  absl::MutexLock lock(&mu_);
  while (!submitted_.empty()) {
    unsent_.push_back(std::move(submitted_.front()));
    submitted_.pop_front();
  }
}

bool RedisClient::HasWork() const { return !unsent_.empty() || !in_flight_.empty(); }

void RedisClient::Connect() {
  if (options_.connect) {
    fd_ = options_.connect();
  } else {
    fd_ = ::socket(address_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 &&
        ::connect(fd_, reinterpret_cast<const sockaddr*>(&address_), address_length_) != 0 &&
        errno != EINPROGRESS) {
      const int error = errno;
      ::close(fd_);
      fd_ = -1;
      errno = error;
    }
  }
  if (fd_ < 0) {
    fd_ = -1;
    return Disconnect(absl::StrCat("connect: ", strerror(errno)));
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL, 0) | O_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // fails harmlessly off TCP
  reader_ = std::make_unique<RespReader>();
  SetState(State::kConnecting);
  connect_deadline_ = absl::Now() + options_.io_timeout;
  if (!wakeup_.Add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)) {
    return Disconnect(absl::StrCat("epoll_ctl: ", strerror(errno)));
  }
}

void RedisClient::OnConnected() {
  int error = 0;
  socklen_t length = sizeof(error);
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error != 0) return Disconnect(absl::StrCat("connect: ", strerror(error)));
  SetState(State::kHandshaking);
  auto failed = [this](absl::string_view step) {
    return [this, step = std::string(step)](absl::StatusOr<RespValue> reply) {
      if (reply.ok() && !reply->is_error()) return;
      last_error_ = absl::StrCat(step, ": ",
                                 reply.ok() ? reply->text : std::string(reply.status().message()));
      if (fd_ >= 0) Disconnect(last_error_);
    };
  };
  const absl::Time deadline = absl::Now() + options_.io_timeout;
  if (!options_.password.empty()) {
    handshake_.push_back(
        HandshakeStep(EncodeCommand({"AUTH", options_.password}), failed("AUTH"), deadline));
  }
  handshake_.push_back(HandshakeStep(EncodeCommand({"CLIENT", "SETNAME", options_.client_name}),
                                     failed("CLIENT SETNAME"), deadline));
  for (const std::vector<std::string>& command : options_.handshake_commands) {
    handshake_.push_back(HandshakeStep(EncodeCommand(command), failed(command.front()), deadline));
  }
  handshake_.push_back(HandshakeStep(
      EncodeCommand({"INFO", "server"}),
      [this, check = failed("INFO")](absl::StatusOr<RespValue> reply) {
        if (!reply.ok() || reply->is_error()) return check(reply);
        io_run_id_ = RunIdOf(reply->text);
        {
          absl::MutexLock lock(&mu_);
          run_id_ = io_run_id_;
        }
        SetState(State::kReady);
        backoff_ = options_.min_backoff;
        last_error_.clear();
        if (options_.on_ready) options_.on_ready(*this);
      },
      deadline));
}

RedisClient::Request RedisClient::HandshakeStep(std::string bytes, Callback done,
                                                absl::Time deadline) {
  Request request;
  request.bytes = std::move(bytes);
  request.done = std::move(done);
  request.deadline = deadline;
  request.internal = true;
  return request;
}

void RedisClient::Flush() {
  std::deque<Request>& source = io_state_ == State::kReady ? unsent_ : handshake_;
  if (io_state_ == State::kReady || io_state_ == State::kHandshaking) {
    const absl::Time deadline = absl::Now() + options_.io_timeout;
    while (!source.empty()) {
      Request request = std::move(source.front());
      source.pop_front();
      if (!request.run_id.empty() && request.run_id != io_run_id_) {
        FailUnsent(std::move(request), "the Redis process changed (restart or failover)");
        continue;
      }
      out_ += request.bytes;
      request.bytes_end = written_ + out_.size();
      request.deadline = deadline;
      in_flight_.push_back(std::move(request));
    }
  }
  while (!out_.empty()) {
    const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT resumes
      return Disconnect(absl::StrCat("send: ", strerror(errno)));
    }
    written_ += static_cast<uint64_t>(n);
    out_.erase(0, static_cast<size_t>(n));
  }
}

void RedisClient::FailUnsent(Request request, absl::string_view why) {
  {
    absl::MutexLock lock(&mu_);
    --pending_;
  }
  request.done(
      absl::UnavailableError(absl::StrCat("redis ", options_.address, ": not sent: ", why)));
}

void RedisClient::OnReadable() {
  char buffer[16384];
  while (fd_ >= 0) {
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n == 0) return Disconnect("the server closed the connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return Disconnect(absl::StrCat("recv: ", strerror(errno)));
    }
    reader_->Feed(absl::string_view(buffer, static_cast<size_t>(n)));
    while (fd_ >= 0) {
      absl::StatusOr<std::optional<RespValue>> reply = reader_->Next();
      if (!reply.ok()) return Disconnect(reply.status().message());
      if (!reply->has_value()) break;
      DeliverReply(**std::move(reply));
    }
  }
}

bool RedisClient::IsPush(const RespValue& reply) const {
  if (!options_.on_push || reply.type != RespValue::Type::kArray || reply.elements.empty()) {
    return false;
  }
  const std::string& kind = reply.elements.front().text;
  return kind == "smessage" || kind == "sunsubscribe" || kind == "message";
}

void RedisClient::DeliverReply(RespValue reply) {
  if (IsPush(reply)) return options_.on_push(std::move(reply));
  if (in_flight_.empty()) return Disconnect("a reply to no command");
  if (in_flight_.front().skip_replies > 0) {
    --in_flight_.front().skip_replies;
    return;
  }
  Request request = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (!request.internal) {
    absl::MutexLock lock(&mu_);
    --pending_;
  }
  request.done(std::move(reply));
}

void RedisClient::Disconnect(absl::string_view why) {
  if (fd_ >= 0) ::close(fd_);  // leaves the epoll set with it
  fd_ = -1;
  reader_.reset();
  out_.clear();
  handshake_.clear();
  // What was wholly written may have run; what was not cannot have (Redis
  // runs only complete commands) and goes out again on the next connection.
  std::deque<Request> unknown;
  std::deque<Request> resend;
  for (Request& request : in_flight_) {
    if (request.internal) continue;
    (request.bytes_end <= written_ ? unknown : resend).push_back(std::move(request));
  }
  in_flight_.clear();
  for (auto it = resend.rbegin(); it != resend.rend(); ++it) unsent_.push_front(std::move(*it));
  SetState(State::kDisconnected);
  io_run_id_.clear();
  {
    absl::MutexLock lock(&mu_);
    run_id_.clear();
    pending_ -= unknown.size();
  }
  for (Request& request : unknown) {
    request.done(absl::UnavailableError(
        absl::StrCat("redis ", options_.address, ": outcome unknown: ", why)));
  }
  if (last_error_.empty()) last_error_ = std::string(why);
  if (options_.on_lost) options_.on_lost(why);
  const double jitter = absl::Uniform(random_, 1.0, 1.5);
  next_connect_ = absl::Now() + backoff_ * jitter;
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
}

void RedisClient::CheckDeadlines(absl::Time now) {
  if (io_state_ == State::kConnecting && now > connect_deadline_) {
    Disconnect("connect timed out");
  }
  if (!in_flight_.empty() && in_flight_.front().deadline < now) {
    Disconnect(absl::StrCat("no reply within --redis_io_timeout=",
                            absl::FormatDuration(options_.io_timeout)));
  }
  // Requests still unsent at their deadline (no connection, or stuck
  // behind a handshake) are not sent at all.
  size_t expired = 0;
  std::deque<Request> failed;
  while (!unsent_.empty() && unsent_.front().deadline < now) {
    failed.push_back(std::move(unsent_.front()));
    unsent_.pop_front();
    ++expired;
  }
  if (expired == 0) return;
  {
    absl::MutexLock lock(&mu_);
    pending_ -= expired;
  }
  const std::string reason = last_error_.empty() ? "not connected" : last_error_;
  for (Request& request : failed) {
    request.done(
        absl::UnavailableError(absl::StrCat("redis ", options_.address, ": not sent: ", reason)));
  }
}

void RedisClient::Run() {
  epoll_event events[16];
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    TakeSubmitted();
    if (io_state_ == State::kDisconnected && (HasWork() || options_.stay_connected) &&
        absl::Now() >= next_connect_) {
      Connect();
    }
    if (fd_ >= 0 && io_state_ != State::kConnecting) Flush();
    const int n = ::epoll_wait(wakeup_.epoll_fd(), events, 16,
                               static_cast<int>(absl::ToInt64Milliseconds(kTick)));
    for (int i = 0; i < n; ++i) {
      if (wakeup_.IsWakeup(events[i])) {
        wakeup_.Clear();
        continue;
      }
      if (events[i].data.fd != fd_ || fd_ < 0) continue;  // an old connection's
      const uint32_t flags = events[i].events;
      if (io_state_ == State::kConnecting && (flags & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        OnConnected();
      }
      if (fd_ >= 0 && (flags & EPOLLIN)) OnReadable();
      if (fd_ >= 0 && (flags & (EPOLLERR | EPOLLHUP))) Disconnect("the connection failed");
      if (fd_ >= 0 && (flags & EPOLLOUT)) Flush();
    }
    CheckDeadlines(absl::Now());
  }
  // Stopping: everything still pending fails.
  if (fd_ >= 0) Disconnect("the client is stopping");
  TakeSubmitted();
  for (Request& request : unsent_) {
    request.done(absl::UnavailableError("redis: not sent: the client is stopping"));
  }
  unsent_.clear();
}

}  // namespace pushbroker::redis
