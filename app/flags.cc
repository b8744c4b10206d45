#include "app/flags.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "broker/status_macros.h"

// Each flag's default is its options struct's: written once, in the library
// that uses it. (publish_burst_per_key and log_level have no struct default.)
ABSL_FLAG(std::string, bind_address, pushbroker::HttpEdgeOptions{}.bind_address,
          "Address every listener binds to.");
ABSL_FLAG(int, grpc_port, pushbroker::GrpcServerOptions{}.port,
          "gRPC port (pushbroker.v1.Broker, health, reflection); 0 picks one.");
ABSL_FLAG(int, http_port, pushbroker::HttpEdgeOptions{}.port,
          "HTTP edge port (/v1/events); 0 picks one.");
ABSL_FLAG(int, admin_port, pushbroker::AdminServerOptions{}.port,
          "Admin HTTP port (/livez, /readyz); 0 picks one.");
ABSL_FLAG(uint32_t, mailbox_max_messages, pushbroker::RetentionPolicy{}.max_messages,
          "Messages kept per mailbox; the oldest go first.");
ABSL_FLAG(absl::Duration, mailbox_ttl, pushbroker::RetentionPolicy{}.ttl,
          "How long a message is kept, and how long an idle mailbox lives.");
ABSL_FLAG(uint32_t, max_message_bytes, pushbroker::ValidationLimits{}.max_message_bytes,
          "Largest `data` a publish may carry.");
ABSL_FLAG(uint64_t, mailbox_max_bytes, pushbroker::RetentionPolicy{}.max_bytes,
          "Bytes one mailbox retains (data + event + 200 per message); the oldest go first.");
ABSL_FLAG(uint64_t, mailbox_memory_budget_bytes, pushbroker::RetentionPolicy{}.memory_budget_bytes,
          "Bytes all mailboxes retain together; past it the oldest messages of the largest "
          "mailboxes go first (a replay past them gets a reset).");
ABSL_FLAG(uint32_t, max_mailboxes, pushbroker::StoreLimits{}.max_mailboxes,
          "Most mailboxes (clients); a publish or stream that would create one more gets "
          "RESOURCE_EXHAUSTED / 429.");
ABSL_FLAG(uint32_t, max_topics_per_client, pushbroker::StoreLimits{}.max_topics_per_client,
          "Most topics one client may be subscribed to.");
ABSL_FLAG(uint32_t, max_streams_per_client, pushbroker::BrokerOptions{}.max_streams_per_client,
          "Most SSE streams and waiting polls one client may hold open at once.");
ABSL_FLAG(double, publish_rate_per_key, pushbroker::RateLimit{}.per_second,
          "Publishes per second each API key may make (all callers together without "
          "--api_keys_file); 0 is unlimited.");
ABSL_FLAG(
    uint32_t, publish_burst_per_key, 1000,
    "Publishes an API key may make at once after a quiet spell, with --publish_rate_per_key.");
ABSL_FLAG(uint32_t, max_client_id_bytes, pushbroker::ValidationLimits{}.max_client_id_bytes,
          "Longest client id or topic name.");
ABSL_FLAG(uint32_t, max_event_bytes, pushbroker::ValidationLimits{}.max_event_bytes,
          "Longest SSE event type a publish may name.");
ABSL_FLAG(uint32_t, max_idempotency_key_bytes,
          pushbroker::ValidationLimits{}.max_idempotency_key_bytes, "Longest idempotency key.");
ABSL_FLAG(uint32_t, history_max_limit, pushbroker::BrokerOptions{}.history_max_limit,
          "Most messages one History call returns.");
ABSL_FLAG(absl::Duration, http_read_timeout, pushbroker::HttpEdgeOptions{}.read_timeout,
          "How long the HTTP edge waits for each read of a request.");
ABSL_FLAG(absl::Duration, http_write_timeout, pushbroker::HttpEdgeOptions{}.write_timeout,
          "How long the HTTP edge waits for each write of an ordinary response.");
ABSL_FLAG(absl::Duration, http_keep_alive_timeout, pushbroker::HttpEdgeOptions{}.keep_alive_timeout,
          "How long an idle keep-alive HTTP connection stays open.");
ABSL_FLAG(uint32_t, max_publish_targets, pushbroker::BrokerOptions{}.max_publish_targets,
          "Most client ids in one list publish.");
ABSL_FLAG(absl::Duration, idempotency_window, pushbroker::BrokerOptions{}.idempotency_window,
          "How long an idempotency key is remembered.");
ABSL_FLAG(uint32_t, idempotency_max_keys, pushbroker::BrokerOptions{}.idempotency_max_keys,
          "Most idempotency keys remembered; past it the oldest are forgotten early.");
ABSL_FLAG(uint32_t, heartbeat_ms,
          absl::ToInt64Milliseconds(pushbroker::HttpEdgeOptions{}.heartbeat_interval),
          "Interval of SSE comment heartbeats.");
ABSL_FLAG(uint32_t, retry_ms, pushbroker::HttpEdgeOptions{}.retry_ms,
          "Reconnect delay advised to browsers (SSE `retry:`).");
ABSL_FLAG(std::string, cors_origins, "",
          "Comma-separated origins allowed to open streams cross-origin, or *; empty: none.");
ABSL_FLAG(uint32_t, max_connections, pushbroker::HttpEdgeOptions{}.max_connections,
          "Most concurrent SSE streams.");
ABSL_FLAG(uint32_t, max_stream_queue_bytes, pushbroker::HttpEdgeOptions{}.max_stream_queue_bytes,
          "Unsent bytes a stream may queue before it is cut as a slow consumer.");
ABSL_FLAG(uint64_t, stream_queue_budget_bytes,
          pushbroker::HttpEdgeOptions{}.stream_queue_budget_bytes,
          "Unsent bytes all SSE streams may hold together; past it every stream holding more "
          "than 64 KiB unsent is cut as a slow consumer (it reconnects and loses nothing).");
ABSL_FLAG(uint32_t, stream_socket_buffer_bytes,
          pushbroker::HttpEdgeOptions{}.stream_socket_buffer_bytes,
          "Kernel send buffer (SO_SNDBUF) of each SSE stream's socket; 0 leaves the kernel's "
          "autotuning, which grows to megabytes for a peer that stopped reading.");
ABSL_FLAG(absl::Duration, stream_stall_timeout, pushbroker::HttpEdgeOptions{}.stream_stall_timeout,
          "A stream whose peer accepts no bytes for this long while data waits is closed.");
ABSL_FLAG(absl::Duration, poll_default_timeout, pushbroker::HttpEdgeOptions{}.poll_default_timeout,
          "How long /v1/poll waits for a message when the request names no timeout_ms.");
ABSL_FLAG(absl::Duration, poll_max_timeout, pushbroker::HttpEdgeOptions{}.poll_max_timeout,
          "The longest timeout_ms a /v1/poll request may name.");
ABSL_FLAG(bool, demo_page, pushbroker::HttpEdgeOptions{}.demo_page,
          "Serve the demo page at GET / on the HTTP edge.");
ABSL_FLAG(uint32_t, max_request_head_bytes, pushbroker::HttpEdgeOptions{}.max_request_head_bytes,
          "Largest HTTP request head (request line and headers); larger gets 431.");
ABSL_FLAG(uint32_t, max_request_line_bytes, pushbroker::HttpEdgeOptions{}.max_request_line_bytes,
          "Longest HTTP request line (method, URL, version), at most 8192; longer gets 414.");
ABSL_FLAG(absl::Duration, http_head_timeout, pushbroker::HttpEdgeOptions{}.head_timeout,
          "Time a connection has to send a complete request head (slowloris defence); then 408.");
ABSL_FLAG(uint32_t, max_batch_size, pushbroker::PublishCallLimits{}.max_batch_size,
          "Most requests in one PublishBatch; a larger batch is refused whole.");
ABSL_FLAG(uint32_t, max_batch_bytes, 16 << 20,
          "Largest gRPC request in bytes (a PublishBatch's size on the wire); at least 4 MiB "
          "and twice --max_message_bytes.");
ABSL_FLAG(uint32_t, publish_stream_window, pushbroker::PublishCallLimits{}.stream_window,
          "PublishStream requests the broker reads ahead of their answers (per stream).");
ABSL_FLAG(uint32_t, grpc_max_metadata_bytes, pushbroker::GrpcServerOptions{}.max_metadata_bytes,
          "Most request metadata (headers) one gRPC call may carry; a call over it fails.");
ABSL_FLAG(uint32_t, max_request_body_bytes, pushbroker::HttpEdgeOptions{}.max_request_body_bytes,
          "Largest HTTP request body (Content-Length), at most 1 MiB; larger gets 413, a body "
          "without Content-Length 411.");
ABSL_FLAG(absl::Duration, http_body_timeout, pushbroker::HttpEdgeOptions{}.body_timeout,
          "Time a request body has to arrive once its head is complete; then 408.");
ABSL_FLAG(uint32_t, max_pending_connections, pushbroker::HttpEdgeOptions{}.max_pending_connections,
          "Most HTTP connections waiting for a complete request head; past it the longest "
          "waiting is closed.");
ABSL_FLAG(uint32_t, sse_loops, pushbroker::HttpEdgeOptions{}.sse_loops,
          "Epoll threads writing established SSE streams (streams are spread over them).");
ABSL_FLAG(uint32_t, max_http_threads, pushbroker::HttpEdgeOptions{}.max_http_threads,
          "Most threads parsing HTTP requests at once (streams need none once open).");
ABSL_FLAG(absl::Duration, sweep_interval, pushbroker::AppOptions{}.sweep_interval,
          "How often expired messages and idle mailboxes are dropped.");
ABSL_FLAG(std::string, store, pushbroker::AppOptions{}.store,
          "Where mailboxes live: memory (this process only) or redis (shared by every replica "
          "on --redis_addrs).");
ABSL_FLAG(std::string, redis_addrs, "",
          "With --store=redis: the Redis server, host:port, or a comma-separated list of nodes "
          "of one Redis Cluster (cluster mode is detected; the other nodes are found). Names "
          "are resolved when a connection is made.");
ABSL_FLAG(std::string, redis_password_file, "",
          "File holding the Redis password (AUTH); empty: no password.");
ABSL_FLAG(absl::Duration, redis_io_timeout, pushbroker::redis::RedisStoreOptions{}.io_timeout,
          "A Redis command with no reply after this long fails as \"outcome unknown\" and its "
          "connection is redone.");
ABSL_FLAG(bool, redis_fence, pushbroker::redis::RedisStoreOptions{}.fence,
          "The incarnation fence: a mailbox written under another Redis process (restart, "
          "failover) takes a new epoch, so lost writes show as a reset. Off only for one Redis "
          "with appendfsync always and no replica.");
ABSL_FLAG(std::string, replica_id, "",
          "This process's name in Redis routes and channels, unique per process; empty: the host "
          "name plus a random nonce.");
ABSL_FLAG(std::string, client_token_secret_file, "",
          "File of HS256 secrets (one per line, the first signs); when set, clients need a token.");
ABSL_FLAG(absl::Duration, client_token_leeway, pushbroker::ClientAuthOptions{}.leeway,
          "Clock skew allowed when checking a client token's exp and nbf.");
ABSL_FLAG(absl::Duration, client_token_max_ttl, pushbroker::ClientAuthOptions{}.max_ttl,
          "Longest lifetime of a token IssueClientToken signs.");
ABSL_FLAG(std::string, client_token_cookie, pushbroker::HttpEdgeOptions{}.client_token_cookie,
          "Cookie a browser may carry its client token in.");
ABSL_FLAG(std::string, api_keys_file, "",
          "File of publisher API keys, one per line; when set, every Broker call needs "
          "'authorization: Bearer <key>'.");
ABSL_FLAG(bool, reflection, pushbroker::GrpcServerOptions{}.reflection,
          "Serve gRPC server reflection (for grpcurl).");
ABSL_FLAG(std::string, grpc_tls_cert, "",
          "PEM certificate chain for gRPC TLS (with --grpc_tls_key).");
ABSL_FLAG(std::string, grpc_tls_key, "", "PEM private key for gRPC TLS.");
ABSL_FLAG(
    std::string, grpc_tls_client_ca, "",
    "PEM CA bundle; when set, gRPC clients must present a certificate it signed (mutual TLS).");
ABSL_FLAG(std::string, log_level, "info", "Log level: debug, info, warn, error or off.");
ABSL_FLAG(absl::Duration, drain_spread, pushbroker::AppOptions{}.drain_spread,
          "On SIGTERM, open streams are closed at random moments over this time.");
ABSL_FLAG(absl::Duration, shutdown_grace, pushbroker::AppOptions{}.shutdown_grace,
          "On SIGTERM, everything (drain and in-flight gRPC calls) ends within this time.");

ABSL_FLAG(absl::Duration, offline_grace, pushbroker::BrokerOptions{}.offline_grace,
          "Watch: a client whose last stream or poll ended is offline only after this long "
          "without another (a reconnect is not an offline/online flap).");
ABSL_FLAG(uint32_t, events_retention, pushbroker::WatchOptions{}.retention_count,
          "Watch: events kept for watchers resuming with after_id (count).");
ABSL_FLAG(absl::Duration, events_retention_age, pushbroker::WatchOptions{}.retention_age,
          "Watch: events kept for watchers resuming with after_id (age); a group without "
          "members is forgotten after this long.");
ABSL_FLAG(uint64_t, events_retention_bytes, pushbroker::WatchOptions{}.retention_bytes,
          "Watch: events kept for watchers resuming with after_id (bytes).");
ABSL_FLAG(absl::Duration, watch_ack_timeout, pushbroker::WatchOptions{}.ack_timeout,
          "Watch: an event a grouped watcher has not confirmed within this time goes to another "
          "member of its group.");
ABSL_FLAG(uint32_t, watch_max_unconfirmed, pushbroker::WatchOptions{}.max_unconfirmed,
          "Watch: events a grouped watcher may hold unconfirmed.");
ABSL_FLAG(uint32_t, max_watchers, pushbroker::WatchOptions{}.max_watchers,
          "Watch: concurrent Watch calls; past it RESOURCE_EXHAUSTED.");
ABSL_FLAG(uint32_t, max_watch_groups, pushbroker::WatchOptions{}.max_groups,
          "Watch: groups kept at once (with members, or idle within --events_retention_age).");
ABSL_FLAG(uint64_t, watch_queue_bytes, pushbroker::WatchOptions{}.queue_bytes,
          "Watch: a watcher this many bytes of events behind (not reading) is cut with "
          "RESOURCE_EXHAUSTED; its group's events go to the others.");
ABSL_FLAG(std::string, static_dir, "",
          "Serve the files under this directory at /static/ (pages on the broker's own origin, "
          "such as examples/vote/web); empty: none.");
ABSL_FLAG(absl::Duration, max_wait_timeout, pushbroker::BrokerOptions{}.max_wait_timeout,
          "The longest wait_timeout a Publish may ask for with wait_for.");
ABSL_FLAG(uint32_t, max_upstream_bytes, pushbroker::HttpEdgeOptions{}.max_upstream_bytes,
          "The largest body of POST /v1/ack and POST /v1/messages.");
ABSL_FLAG(double, upstream_rate_per_client, pushbroker::HttpEdgeOptions{}.upstream_rate_per_client,
          "POST /v1/ack and /v1/messages per second and client; past it 429 with Retry-After.");
ABSL_FLAG(double, upstream_burst_per_client,
          pushbroker::HttpEdgeOptions{}.upstream_burst_per_client,
          "POSTs a client may make at once after a quiet spell, with --upstream_rate_per_client.");

namespace pushbroker {
namespace {

absl::Status CheckPort(const char* name, int port) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, "=", port, " is not a port (0-65535)"));
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(const char* name, uint64_t value) {
  if (value == 0) return absl::InvalidArgumentError(absl::StrCat("--", name, " must be positive"));
  return absl::OkStatus();
}

absl::Status CheckPositive(const char* name, absl::Duration value) {
  if (value <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be positive"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyFlagsFromEnvironment() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    // Only the broker's own flags, not Abseil's (--flagfile and the like).
    if (flag->Filename().find("app/flags.cc") == std::string::npos) continue;
    const std::string variable = absl::StrCat("PUSH_BROKER_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat(variable, "='", value, "': ", error));
    }
  }
  return absl::OkStatus();
}

namespace {

// Each reader below takes the flags of one options struct and checks them;
// the first bad one is named in an INVALID_ARGUMENT.

absl::StatusOr<RetentionPolicy> RetentionFromFlags() {
  RETURN_IF_ERROR(CheckPositive("mailbox_max_messages", absl::GetFlag(FLAGS_mailbox_max_messages)));
  RETURN_IF_ERROR(CheckPositive("mailbox_ttl", absl::GetFlag(FLAGS_mailbox_ttl)));
  RetentionPolicy retention;
  retention.max_messages = absl::GetFlag(FLAGS_mailbox_max_messages);
  retention.ttl = absl::GetFlag(FLAGS_mailbox_ttl);
  retention.max_bytes = absl::GetFlag(FLAGS_mailbox_max_bytes);
  retention.memory_budget_bytes = absl::GetFlag(FLAGS_mailbox_memory_budget_bytes);
  // The largest message must fit in a mailbox and in the budget.
  const uint64_t largest_message = uint64_t{absl::GetFlag(FLAGS_max_message_bytes)} +
                                   absl::GetFlag(FLAGS_max_event_bytes) + kMessageOverheadBytes;
  if (retention.max_bytes < largest_message ||
      retention.memory_budget_bytes < retention.max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("need --max_message_bytes + --max_event_bytes + ", kMessageOverheadBytes, " (",
                     largest_message, ") <= --mailbox_max_bytes <= --mailbox_memory_budget_bytes"));
  }
  return retention;
}

absl::StatusOr<StoreLimits> StoreLimitsFromFlags() {
  RETURN_IF_ERROR(CheckPositive("max_mailboxes", absl::GetFlag(FLAGS_max_mailboxes)));
  RETURN_IF_ERROR(
      CheckPositive("max_topics_per_client", absl::GetFlag(FLAGS_max_topics_per_client)));
  StoreLimits limits;
  limits.max_mailboxes = absl::GetFlag(FLAGS_max_mailboxes);
  limits.max_topics_per_client = absl::GetFlag(FLAGS_max_topics_per_client);
  return limits;
}

absl::StatusOr<BrokerOptions> BrokerOptionsFromFlags() {
  for (const auto& [name, value] :
       {std::pair<const char*, uint64_t>{"max_message_bytes",
                                         absl::GetFlag(FLAGS_max_message_bytes)},
        {"max_client_id_bytes", absl::GetFlag(FLAGS_max_client_id_bytes)},
        {"max_publish_targets", absl::GetFlag(FLAGS_max_publish_targets)},
        {"max_event_bytes", absl::GetFlag(FLAGS_max_event_bytes)},
        {"max_idempotency_key_bytes", absl::GetFlag(FLAGS_max_idempotency_key_bytes)},
        {"history_max_limit", absl::GetFlag(FLAGS_history_max_limit)},
        {"idempotency_max_keys", absl::GetFlag(FLAGS_idempotency_max_keys)},
        {"max_streams_per_client", absl::GetFlag(FLAGS_max_streams_per_client)}}) {
    RETURN_IF_ERROR(CheckPositive(name, value));
  }
  RETURN_IF_ERROR(CheckPositive("idempotency_window", absl::GetFlag(FLAGS_idempotency_window)));
  BrokerOptions broker;
  broker.max_streams_per_client = absl::GetFlag(FLAGS_max_streams_per_client);
  broker.limits.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  broker.limits.max_client_id_bytes = absl::GetFlag(FLAGS_max_client_id_bytes);
  broker.limits.max_topic_bytes = absl::GetFlag(FLAGS_max_client_id_bytes);
  broker.limits.max_event_bytes = absl::GetFlag(FLAGS_max_event_bytes);
  broker.limits.max_idempotency_key_bytes = absl::GetFlag(FLAGS_max_idempotency_key_bytes);
  broker.max_publish_targets = absl::GetFlag(FLAGS_max_publish_targets);
  broker.history_max_limit = absl::GetFlag(FLAGS_history_max_limit);
  broker.history_default_limit = std::min(broker.history_default_limit, broker.history_max_limit);
  broker.idempotency_window = absl::GetFlag(FLAGS_idempotency_window);
  broker.idempotency_max_keys = absl::GetFlag(FLAGS_idempotency_max_keys);
  for (const auto& [name, value] :
       {std::pair<const char*, absl::Duration>{"offline_grace", absl::GetFlag(FLAGS_offline_grace)},
        {"events_retention_age", absl::GetFlag(FLAGS_events_retention_age)},
        {"watch_ack_timeout", absl::GetFlag(FLAGS_watch_ack_timeout)},
        {"max_wait_timeout", absl::GetFlag(FLAGS_max_wait_timeout)}}) {
    RETURN_IF_ERROR(CheckPositive(name, value));
  }
  for (const auto& [name, value] :
       {std::pair<const char*, uint64_t>{"events_retention", absl::GetFlag(FLAGS_events_retention)},
        {"events_retention_bytes", absl::GetFlag(FLAGS_events_retention_bytes)},
        {"watch_max_unconfirmed", absl::GetFlag(FLAGS_watch_max_unconfirmed)},
        {"max_watchers", absl::GetFlag(FLAGS_max_watchers)},
        {"max_watch_groups", absl::GetFlag(FLAGS_max_watch_groups)},
        {"watch_queue_bytes", absl::GetFlag(FLAGS_watch_queue_bytes)}}) {
    RETURN_IF_ERROR(CheckPositive(name, value));
  }
  broker.offline_grace = absl::GetFlag(FLAGS_offline_grace);
  broker.max_wait_timeout = absl::GetFlag(FLAGS_max_wait_timeout);
  broker.watch.retention_count = absl::GetFlag(FLAGS_events_retention);
  broker.watch.retention_age = absl::GetFlag(FLAGS_events_retention_age);
  broker.watch.retention_bytes = absl::GetFlag(FLAGS_events_retention_bytes);
  broker.watch.ack_timeout = absl::GetFlag(FLAGS_watch_ack_timeout);
  broker.watch.max_unconfirmed = absl::GetFlag(FLAGS_watch_max_unconfirmed);
  broker.watch.max_watchers = absl::GetFlag(FLAGS_max_watchers);
  broker.watch.max_groups = absl::GetFlag(FLAGS_max_watch_groups);
  broker.watch.queue_bytes = absl::GetFlag(FLAGS_watch_queue_bytes);
  return broker;
}

absl::StatusOr<GrpcServerOptions> GrpcOptionsFromFlags() {
  RETURN_IF_ERROR(CheckPort("grpc_port", absl::GetFlag(FLAGS_grpc_port)));
  RETURN_IF_ERROR(
      CheckPositive("grpc_max_metadata_bytes", absl::GetFlag(FLAGS_grpc_max_metadata_bytes)));
  RETURN_IF_ERROR(CheckPositive("max_batch_size", absl::GetFlag(FLAGS_max_batch_size)));
  RETURN_IF_ERROR(
      CheckPositive("publish_stream_window", absl::GetFlag(FLAGS_publish_stream_window)));
  GrpcServerOptions grpc;
  grpc.bind_address = absl::GetFlag(FLAGS_bind_address);
  grpc.port = absl::GetFlag(FLAGS_grpc_port);
  grpc.default_retry_ms = absl::GetFlag(FLAGS_retry_ms);
  // Room for a batch, and at least for the largest message plus its envelope.
  grpc.max_receive_message_bytes =
      std::max<size_t>({size_t{4} << 20, size_t{absl::GetFlag(FLAGS_max_batch_bytes)},
                        2 * size_t{absl::GetFlag(FLAGS_max_message_bytes)} + 4096});
  grpc.publish_limits.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  grpc.publish_limits.stream_window = absl::GetFlag(FLAGS_publish_stream_window);
  grpc.max_metadata_bytes = absl::GetFlag(FLAGS_grpc_max_metadata_bytes);
  grpc.publish_rate.per_second = absl::GetFlag(FLAGS_publish_rate_per_key);
  grpc.publish_rate.burst = std::max<double>(1, absl::GetFlag(FLAGS_publish_burst_per_key));
  if (!(grpc.publish_rate.per_second >= 0)) {
    return absl::InvalidArgumentError("--publish_rate_per_key must be 0 (unlimited) or positive");
  }
  grpc.reflection = absl::GetFlag(FLAGS_reflection);
  grpc.tls_cert = absl::GetFlag(FLAGS_grpc_tls_cert);
  grpc.tls_key = absl::GetFlag(FLAGS_grpc_tls_key);
  grpc.tls_client_ca = absl::GetFlag(FLAGS_grpc_tls_client_ca);
  return grpc;
}

absl::Status CheckHttpFlags() {
  RETURN_IF_ERROR(CheckPort("http_port", absl::GetFlag(FLAGS_http_port)));
  for (const auto& [name, value] :
       {std::pair<const char*, uint64_t>{"heartbeat_ms", absl::GetFlag(FLAGS_heartbeat_ms)},
        {"max_connections", absl::GetFlag(FLAGS_max_connections)},
        {"max_stream_queue_bytes", absl::GetFlag(FLAGS_max_stream_queue_bytes)},
        {"stream_queue_budget_bytes", absl::GetFlag(FLAGS_stream_queue_budget_bytes)},
        {"max_http_threads", absl::GetFlag(FLAGS_max_http_threads)},
        {"max_request_head_bytes", absl::GetFlag(FLAGS_max_request_head_bytes)},
        {"max_request_line_bytes", absl::GetFlag(FLAGS_max_request_line_bytes)},
        {"max_pending_connections", absl::GetFlag(FLAGS_max_pending_connections)},
        {"sse_loops", absl::GetFlag(FLAGS_sse_loops)}}) {
    RETURN_IF_ERROR(CheckPositive(name, value));
  }
  for (const auto& [name, value] :
       {std::pair<const char*, absl::Duration>{"poll_default_timeout",
                                               absl::GetFlag(FLAGS_poll_default_timeout)},
        {"poll_max_timeout", absl::GetFlag(FLAGS_poll_max_timeout)},
        {"stream_stall_timeout", absl::GetFlag(FLAGS_stream_stall_timeout)},
        {"http_read_timeout", absl::GetFlag(FLAGS_http_read_timeout)},
        {"http_write_timeout", absl::GetFlag(FLAGS_http_write_timeout)},
        {"http_keep_alive_timeout", absl::GetFlag(FLAGS_http_keep_alive_timeout)},
        {"http_head_timeout", absl::GetFlag(FLAGS_http_head_timeout)},
        {"http_body_timeout", absl::GetFlag(FLAGS_http_body_timeout)}}) {
    RETURN_IF_ERROR(CheckPositive(name, value));
  }
  if (absl::GetFlag(FLAGS_max_request_body_bytes) > (1 << 20)) {
    // The gate holds a body in the socket's receive buffer until it is whole.
    return absl::InvalidArgumentError("--max_request_body_bytes must be at most 1048576");
  }
  const uint32_t line = absl::GetFlag(FLAGS_max_request_line_bytes);
  if (line > 8192 || line > absl::GetFlag(FLAGS_max_request_head_bytes)) {
    return absl::InvalidArgumentError(
        "--max_request_line_bytes must be at most 8192 (cpp-httplib's own limit) and at most "
        "--max_request_head_bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpEdgeOptions> HttpEdgeOptionsFromFlags() {
  RETURN_IF_ERROR(CheckHttpFlags());
  HttpEdgeOptions http;
  http.bind_address = absl::GetFlag(FLAGS_bind_address);
  http.port = absl::GetFlag(FLAGS_http_port);
  http.retry_ms = absl::GetFlag(FLAGS_retry_ms);
  http.heartbeat_interval = absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_ms));
  for (absl::string_view origin :
       absl::StrSplit(absl::GetFlag(FLAGS_cors_origins), ',', absl::SkipWhitespace())) {
    http.cors_origins.emplace_back(absl::StripAsciiWhitespace(origin));
  }
  http.max_connections = absl::GetFlag(FLAGS_max_connections);
  http.max_stream_queue_bytes = absl::GetFlag(FLAGS_max_stream_queue_bytes);
  http.stream_queue_budget_bytes = absl::GetFlag(FLAGS_stream_queue_budget_bytes);
  http.stream_socket_buffer_bytes = static_cast<int>(
      std::min<uint32_t>(absl::GetFlag(FLAGS_stream_socket_buffer_bytes), 64 << 20));
  http.max_http_threads = absl::GetFlag(FLAGS_max_http_threads);
  http.sse_loops = absl::GetFlag(FLAGS_sse_loops);
  http.stream_stall_timeout = absl::GetFlag(FLAGS_stream_stall_timeout);
  http.poll_max_timeout = absl::GetFlag(FLAGS_poll_max_timeout);
  http.poll_default_timeout =
      std::min(absl::GetFlag(FLAGS_poll_default_timeout), http.poll_max_timeout);
  http.demo_page = absl::GetFlag(FLAGS_demo_page);
  http.read_timeout = absl::GetFlag(FLAGS_http_read_timeout);
  http.write_timeout = absl::GetFlag(FLAGS_http_write_timeout);
  http.keep_alive_timeout = absl::GetFlag(FLAGS_http_keep_alive_timeout);
  http.max_request_head_bytes = absl::GetFlag(FLAGS_max_request_head_bytes);
  http.max_request_line_bytes = absl::GetFlag(FLAGS_max_request_line_bytes);
  http.head_timeout = absl::GetFlag(FLAGS_http_head_timeout);
  http.max_pending_connections = absl::GetFlag(FLAGS_max_pending_connections);
  http.max_request_body_bytes = absl::GetFlag(FLAGS_max_request_body_bytes);
  http.static_dir = absl::GetFlag(FLAGS_static_dir);
  http.max_upstream_bytes = absl::GetFlag(FLAGS_max_upstream_bytes);
  http.upstream_rate_per_client = absl::GetFlag(FLAGS_upstream_rate_per_client);
  http.upstream_burst_per_client =
      std::max<double>(1, absl::GetFlag(FLAGS_upstream_burst_per_client));
  if (!(http.upstream_rate_per_client >= 0)) {
    return absl::InvalidArgumentError(
        "--upstream_rate_per_client must be 0 (unlimited) or positive");
  }
  http.body_timeout = absl::GetFlag(FLAGS_http_body_timeout);
  http.client_token_cookie = absl::GetFlag(FLAGS_client_token_cookie);
  return http;
}

absl::StatusOr<AdminServerOptions> AdminOptionsFromFlags() {
  RETURN_IF_ERROR(CheckPort("admin_port", absl::GetFlag(FLAGS_admin_port)));
  AdminServerOptions admin;
  admin.bind_address = absl::GetFlag(FLAGS_bind_address);
  admin.port = absl::GetFlag(FLAGS_admin_port);
  return admin;
}

absl::StatusOr<ClientAuthOptions> ClientAuthFromFlags() {
  ClientAuthOptions auth;
  auth.secret_file = absl::GetFlag(FLAGS_client_token_secret_file);
  auth.leeway = absl::GetFlag(FLAGS_client_token_leeway);
  auth.max_ttl = absl::GetFlag(FLAGS_client_token_max_ttl);
  if (auth.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--client_token_leeway must not be negative");
  }
  return auth;
}

// A name unique to this process: the host name and a random nonce, so a
// restarted pod is a new replica and its old routes end with their lease.

absl::Status ReadStoreFlags(AppOptions& options) {
  options.store = absl::GetFlag(FLAGS_store);
  if (options.store != "memory" && options.store != "redis") {
    return absl::InvalidArgumentError(
        absl::StrCat("--store='", options.store, "': must be memory or redis"));
  }
  redis::RedisStoreOptions& redis = options.redis;
  redis.address = absl::GetFlag(FLAGS_redis_addrs);
  redis.io_timeout = absl::GetFlag(FLAGS_redis_io_timeout);
  redis.fence = absl::GetFlag(FLAGS_redis_fence);
  redis.replica_id = absl::GetFlag(FLAGS_replica_id);
  if (redis.replica_id.empty()) redis.replica_id = DefaultReplicaId();
  redis.idempotency_window = options.broker.idempotency_window;
  redis.resync_retry_ms = options.http.retry_ms;
  RETURN_IF_ERROR(CheckPositive("redis_io_timeout", redis.io_timeout));
  if (options.store != "redis") return absl::OkStatus();
  if (redis.address.empty()) {
    return absl::InvalidArgumentError("--store=redis needs --redis_addrs=host:port");
  }
  if (const std::string file = absl::GetFlag(FLAGS_redis_password_file); !file.empty()) {
    std::ifstream in(file);
    std::stringstream content;
    content << in.rdbuf();
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("--redis_password_file='", file, "' cannot be read"));
    }
    redis.password = std::string(absl::StripAsciiWhitespace(content.str()));
  }
  return absl::OkStatus();
}

// The process-wide settings: sweeping, shutdown, logging, publisher keys.
absl::Status ReadAppFlags(AppOptions& options) {
  RETURN_IF_ERROR(CheckPositive("sweep_interval", absl::GetFlag(FLAGS_sweep_interval)));
  options.sweep_interval = absl::GetFlag(FLAGS_sweep_interval);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.drain_spread = absl::GetFlag(FLAGS_drain_spread);
  if (options.drain_spread < absl::ZeroDuration() ||
      options.drain_spread >= options.shutdown_grace) {
    return absl::InvalidArgumentError(
        "--drain_spread must be at least 0 and less than --shutdown_grace");
  }
  absl::StatusOr<LogLevel> log_level = ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!log_level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--log_level: ", log_level.status().message()));
  }
  options.log_level = *log_level;
  options.api_keys_file = absl::GetFlag(FLAGS_api_keys_file);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AppOptions> AppOptionsFromFlags() {
  AppOptions options;
  // In the order the old single block checked them, so the same bad flag is
  // named first: ports, then the rest.
  RETURN_IF_ERROR(CheckPort("grpc_port", absl::GetFlag(FLAGS_grpc_port)));
  RETURN_IF_ERROR(CheckPort("http_port", absl::GetFlag(FLAGS_http_port)));
  RETURN_IF_ERROR(CheckPort("admin_port", absl::GetFlag(FLAGS_admin_port)));
  ASSIGN_OR_RETURN(options.retention, RetentionFromFlags());
  ASSIGN_OR_RETURN(options.store_limits, StoreLimitsFromFlags());
  ASSIGN_OR_RETURN(options.broker, BrokerOptionsFromFlags());
  ASSIGN_OR_RETURN(options.grpc, GrpcOptionsFromFlags());
  ASSIGN_OR_RETURN(options.http, HttpEdgeOptionsFromFlags());
  ASSIGN_OR_RETURN(options.admin, AdminOptionsFromFlags());
  ASSIGN_OR_RETURN(options.client_auth, ClientAuthFromFlags());
  RETURN_IF_ERROR(ReadAppFlags(options));
  RETURN_IF_ERROR(ReadStoreFlags(options));
  options.broker.replica = options.redis.replica_id;  // events name the process that saw them
  return options;
}

}  // namespace pushbroker
