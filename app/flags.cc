#include "app/flags.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, bind_address, "0.0.0.0", "Address every listener binds to.");
ABSL_FLAG(int, grpc_port, 50051, "gRPC port (pushbroker.v1.Broker, health, reflection); 0 picks one.");
ABSL_FLAG(int, http_port, 8080, "HTTP edge port (/v1/events); 0 picks one.");
ABSL_FLAG(int, admin_port, 9090, "Admin HTTP port (/livez, /readyz); 0 picks one.");
ABSL_FLAG(uint32_t, mailbox_max_messages, 1000,
          "Messages kept per mailbox; the oldest go first.");
ABSL_FLAG(absl::Duration, mailbox_ttl, absl::Hours(24),
          "How long a message is kept, and how long an idle mailbox lives.");
ABSL_FLAG(uint32_t, max_message_bytes, 64 * 1024, "Largest `data` a publish may carry.");
ABSL_FLAG(uint64_t, mailbox_max_bytes, 1 << 20,
          "Bytes one mailbox retains (data + event + 200 per message); the oldest go first.");
ABSL_FLAG(uint64_t, mailbox_memory_budget_bytes, uint64_t{1} << 30,
          "Bytes all mailboxes retain together; past it the oldest messages of the largest "
          "mailboxes go first (a replay past them gets a reset).");
ABSL_FLAG(uint32_t, max_mailboxes, 1000000,
          "Most mailboxes (clients); a publish or stream that would create one more gets "
          "RESOURCE_EXHAUSTED / 429.");
ABSL_FLAG(uint32_t, max_topics_per_client, 100, "Most topics one client may be subscribed to.");
ABSL_FLAG(uint32_t, max_streams_per_client, 16,
          "Most SSE streams and waiting polls one client may hold open at once.");
ABSL_FLAG(double, publish_rate_per_key, 0,
          "Publishes per second each API key may make (all callers together without "
          "--api_keys_file); 0 is unlimited.");
ABSL_FLAG(uint32_t, publish_burst_per_key, 1000,
          "Publishes an API key may make at once after a quiet spell, with --publish_rate_per_key.");
ABSL_FLAG(uint32_t, max_client_id_bytes, 128, "Longest client id or topic name.");
ABSL_FLAG(uint32_t, max_event_bytes, 128, "Longest SSE event type a publish may name.");
ABSL_FLAG(uint32_t, max_idempotency_key_bytes, 256, "Longest idempotency key.");
ABSL_FLAG(uint32_t, history_max_limit, 10000, "Most messages one History call returns.");
ABSL_FLAG(absl::Duration, http_read_timeout, absl::Seconds(10),
          "How long the HTTP edge waits for each read of a request.");
ABSL_FLAG(absl::Duration, http_write_timeout, absl::Seconds(10),
          "How long the HTTP edge waits for each write of an ordinary response.");
ABSL_FLAG(absl::Duration, http_keep_alive_timeout, absl::Seconds(5),
          "How long an idle keep-alive HTTP connection stays open.");
ABSL_FLAG(uint32_t, max_publish_targets, 10000, "Most client ids in one list publish.");
ABSL_FLAG(absl::Duration, idempotency_window, absl::Minutes(10),
          "How long an idempotency key is remembered.");
ABSL_FLAG(uint32_t, idempotency_max_keys, 100000,
          "Most idempotency keys remembered; past it the oldest are forgotten early.");
ABSL_FLAG(uint32_t, heartbeat_ms, 15000, "Interval of SSE comment heartbeats.");
ABSL_FLAG(uint32_t, retry_ms, 3000, "Reconnect delay advised to browsers (SSE `retry:`).");
ABSL_FLAG(std::string, cors_origins, "",
          "Comma-separated origins allowed to open streams cross-origin, or *; empty: none.");
ABSL_FLAG(uint32_t, max_connections, 10000, "Most concurrent SSE streams.");
ABSL_FLAG(uint32_t, max_stream_queue_bytes, 1 << 20,
          "Unsent bytes a stream may queue before it is cut as a slow consumer.");
ABSL_FLAG(uint64_t, stream_queue_budget_bytes, 256 << 20,
          "Unsent bytes all SSE streams may hold together; past it every stream holding more "
          "than 64 KiB unsent is cut as a slow consumer (it reconnects and loses nothing).");
ABSL_FLAG(uint32_t, stream_socket_buffer_bytes, 256 * 1024,
          "Kernel send buffer (SO_SNDBUF) of each SSE stream's socket; 0 leaves the kernel's "
          "autotuning, which grows to megabytes for a peer that stopped reading.");
ABSL_FLAG(absl::Duration, stream_stall_timeout, absl::Seconds(30),
          "A stream whose peer accepts no bytes for this long while data waits is closed.");
ABSL_FLAG(absl::Duration, poll_default_timeout, absl::Seconds(25),
          "How long /v1/poll waits for a message when the request names no timeout_ms.");
ABSL_FLAG(absl::Duration, poll_max_timeout, absl::Seconds(60),
          "The longest timeout_ms a /v1/poll request may name.");
ABSL_FLAG(bool, demo_page, true, "Serve the demo page at GET / on the HTTP edge.");
ABSL_FLAG(uint32_t, max_request_head_bytes, 32 * 1024,
          "Largest HTTP request head (request line and headers); larger gets 431.");
ABSL_FLAG(uint32_t, max_request_line_bytes, 8192,
          "Longest HTTP request line (method, URL, version), at most 8192; longer gets 414.");
ABSL_FLAG(absl::Duration, http_head_timeout, absl::Seconds(10),
          "Time a connection has to send a complete request head (slowloris defence); then 408.");
ABSL_FLAG(uint32_t, grpc_max_metadata_bytes, 64 * 1024,
          "Most request metadata (headers) one gRPC call may carry; a call over it fails.");
ABSL_FLAG(uint32_t, max_request_body_bytes, 64 * 1024,
          "Largest HTTP request body (Content-Length), at most 1 MiB; larger gets 413, a body "
          "without Content-Length 411.");
ABSL_FLAG(absl::Duration, http_body_timeout, absl::Seconds(10),
          "Time a request body has to arrive once its head is complete; then 408.");
ABSL_FLAG(uint32_t, max_pending_connections, 4096,
          "Most HTTP connections waiting for a complete request head; past it the longest "
          "waiting is closed.");
ABSL_FLAG(uint32_t, sse_loops, 2,
          "Epoll threads writing established SSE streams (streams are spread over them).");
ABSL_FLAG(uint32_t, max_http_threads, 512,
          "Most threads parsing HTTP requests at once (streams need none once open).");
ABSL_FLAG(absl::Duration, sweep_interval, absl::Seconds(30),
          "How often expired messages and idle mailboxes are dropped.");
ABSL_FLAG(std::string, client_token_secret_file, "",
          "File of HS256 secrets (one per line, the first signs); when set, clients need a token.");
ABSL_FLAG(absl::Duration, client_token_leeway, absl::Seconds(30),
          "Clock skew allowed when checking a client token's exp and nbf.");
ABSL_FLAG(absl::Duration, client_token_max_ttl, absl::Hours(24),
          "Longest lifetime of a token IssueClientToken signs.");
ABSL_FLAG(std::string, client_token_cookie, "pb_token", "Cookie a browser may carry its client token in.");
ABSL_FLAG(std::string, api_keys_file, "",
          "File of publisher API keys, one per line; when set, every Broker call needs "
          "'authorization: Bearer <key>'.");
ABSL_FLAG(bool, reflection, true, "Serve gRPC server reflection (for grpcurl).");
ABSL_FLAG(std::string, grpc_tls_cert, "", "PEM certificate chain for gRPC TLS (with --grpc_tls_key).");
ABSL_FLAG(std::string, grpc_tls_key, "", "PEM private key for gRPC TLS.");
ABSL_FLAG(std::string, grpc_tls_client_ca, "",
          "PEM CA bundle; when set, gRPC clients must present a certificate it signed (mutual TLS).");
ABSL_FLAG(std::string, log_level, "info", "Log level: debug, info, warn, error or off.");
ABSL_FLAG(absl::Duration, drain_spread, absl::Seconds(5),
          "On SIGTERM, open streams are closed at random moments over this time.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM, everything (drain and in-flight gRPC calls) ends within this time.");

namespace pushbroker {
namespace {

absl::Status CheckPort(const char* name, int port) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, "=", port, " is not a port (0-65535)"));
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

absl::StatusOr<AppOptions> AppOptionsFromFlags() {
  AppOptions options;
  const std::string bind = absl::GetFlag(FLAGS_bind_address);
  const int grpc_port = absl::GetFlag(FLAGS_grpc_port);
  const int http_port = absl::GetFlag(FLAGS_http_port);
  const int admin_port = absl::GetFlag(FLAGS_admin_port);
  for (const absl::Status& status :
       {CheckPort("grpc_port", grpc_port), CheckPort("http_port", http_port),
        CheckPort("admin_port", admin_port),
        CheckPositive("mailbox_max_messages", absl::GetFlag(FLAGS_mailbox_max_messages)),
        CheckPositive("mailbox_ttl", absl::GetFlag(FLAGS_mailbox_ttl)),
        CheckPositive("max_message_bytes", absl::GetFlag(FLAGS_max_message_bytes)),
        CheckPositive("max_client_id_bytes", absl::GetFlag(FLAGS_max_client_id_bytes)),
        CheckPositive("max_publish_targets", absl::GetFlag(FLAGS_max_publish_targets)),
        CheckPositive("max_event_bytes", absl::GetFlag(FLAGS_max_event_bytes)),
        CheckPositive("max_idempotency_key_bytes", absl::GetFlag(FLAGS_max_idempotency_key_bytes)),
        CheckPositive("history_max_limit", absl::GetFlag(FLAGS_history_max_limit)),
        CheckPositive("poll_default_timeout", absl::GetFlag(FLAGS_poll_default_timeout)),
        CheckPositive("poll_max_timeout", absl::GetFlag(FLAGS_poll_max_timeout)),
        CheckPositive("stream_stall_timeout", absl::GetFlag(FLAGS_stream_stall_timeout)),
        CheckPositive("http_read_timeout", absl::GetFlag(FLAGS_http_read_timeout)),
        CheckPositive("http_write_timeout", absl::GetFlag(FLAGS_http_write_timeout)),
        CheckPositive("http_keep_alive_timeout", absl::GetFlag(FLAGS_http_keep_alive_timeout)),
        CheckPositive("idempotency_window", absl::GetFlag(FLAGS_idempotency_window)),
        CheckPositive("idempotency_max_keys", absl::GetFlag(FLAGS_idempotency_max_keys)),
        CheckPositive("heartbeat_ms", absl::GetFlag(FLAGS_heartbeat_ms)),
        CheckPositive("max_connections", absl::GetFlag(FLAGS_max_connections)),
        CheckPositive("max_stream_queue_bytes", absl::GetFlag(FLAGS_max_stream_queue_bytes)),
        CheckPositive("stream_queue_budget_bytes", absl::GetFlag(FLAGS_stream_queue_budget_bytes)),
        CheckPositive("max_http_threads", absl::GetFlag(FLAGS_max_http_threads)),
        CheckPositive("sweep_interval", absl::GetFlag(FLAGS_sweep_interval)),
        CheckPositive("max_mailboxes", absl::GetFlag(FLAGS_max_mailboxes)),
        CheckPositive("max_topics_per_client", absl::GetFlag(FLAGS_max_topics_per_client)),
        CheckPositive("max_streams_per_client", absl::GetFlag(FLAGS_max_streams_per_client)),
        CheckPositive("max_request_head_bytes", absl::GetFlag(FLAGS_max_request_head_bytes)),
        CheckPositive("max_request_line_bytes", absl::GetFlag(FLAGS_max_request_line_bytes)),
        CheckPositive("http_head_timeout", absl::GetFlag(FLAGS_http_head_timeout)),
        CheckPositive("http_body_timeout", absl::GetFlag(FLAGS_http_body_timeout)),
        CheckPositive("grpc_max_metadata_bytes", absl::GetFlag(FLAGS_grpc_max_metadata_bytes)),
        CheckPositive("max_pending_connections", absl::GetFlag(FLAGS_max_pending_connections)),
        CheckPositive("sse_loops", absl::GetFlag(FLAGS_sse_loops))}) {
    if (!status.ok()) return status;
  }

  options.retention.max_messages = absl::GetFlag(FLAGS_mailbox_max_messages);
  options.retention.ttl = absl::GetFlag(FLAGS_mailbox_ttl);
  options.retention.max_bytes = absl::GetFlag(FLAGS_mailbox_max_bytes);
  options.retention.memory_budget_bytes = absl::GetFlag(FLAGS_mailbox_memory_budget_bytes);
  // The largest message must fit in a mailbox and in the budget.
  const uint64_t largest_message = uint64_t{absl::GetFlag(FLAGS_max_message_bytes)} +
                                   absl::GetFlag(FLAGS_max_event_bytes) + kMessageOverheadBytes;
  if (options.retention.max_bytes < largest_message ||
      options.retention.memory_budget_bytes < options.retention.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "need --max_message_bytes + --max_event_bytes + ", kMessageOverheadBytes, " (", largest_message,
        ") <= --mailbox_max_bytes <= --mailbox_memory_budget_bytes"));
  }
  options.store_limits.max_mailboxes = absl::GetFlag(FLAGS_max_mailboxes);
  options.store_limits.max_topics_per_client = absl::GetFlag(FLAGS_max_topics_per_client);
  options.broker.max_streams_per_client = absl::GetFlag(FLAGS_max_streams_per_client);
  options.grpc.publish_rate.per_second = absl::GetFlag(FLAGS_publish_rate_per_key);
  options.grpc.publish_rate.burst = std::max<double>(1, absl::GetFlag(FLAGS_publish_burst_per_key));
  if (!(options.grpc.publish_rate.per_second >= 0)) {
    return absl::InvalidArgumentError("--publish_rate_per_key must be 0 (unlimited) or positive");
  }

  options.broker.limits.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.broker.limits.max_client_id_bytes = absl::GetFlag(FLAGS_max_client_id_bytes);
  options.broker.limits.max_topic_bytes = absl::GetFlag(FLAGS_max_client_id_bytes);
  options.broker.limits.max_event_bytes = absl::GetFlag(FLAGS_max_event_bytes);
  options.broker.limits.max_idempotency_key_bytes = absl::GetFlag(FLAGS_max_idempotency_key_bytes);
  options.broker.max_publish_targets = absl::GetFlag(FLAGS_max_publish_targets);
  options.broker.history_max_limit = absl::GetFlag(FLAGS_history_max_limit);
  options.broker.history_default_limit =
      std::min<size_t>(options.broker.history_default_limit, options.broker.history_max_limit);
  options.broker.idempotency_window = absl::GetFlag(FLAGS_idempotency_window);
  options.broker.idempotency_max_keys = absl::GetFlag(FLAGS_idempotency_max_keys);

  const uint32_t retry_ms = absl::GetFlag(FLAGS_retry_ms);
  options.grpc.bind_address = bind;
  options.grpc.port = grpc_port;
  options.grpc.default_retry_ms = retry_ms;
  // Room for the largest message plus its envelope.
  options.grpc.max_receive_message_bytes =
      std::max<size_t>(4 << 20, 2 * size_t{absl::GetFlag(FLAGS_max_message_bytes)} + 4096);
  options.grpc.max_metadata_bytes = absl::GetFlag(FLAGS_grpc_max_metadata_bytes);

  options.http.bind_address = bind;
  options.http.port = http_port;
  options.http.retry_ms = retry_ms;
  options.http.heartbeat_interval = absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_ms));
  for (absl::string_view origin :
       absl::StrSplit(absl::GetFlag(FLAGS_cors_origins), ',', absl::SkipWhitespace())) {
    options.http.cors_origins.emplace_back(absl::StripAsciiWhitespace(origin));
  }
  options.http.max_connections = absl::GetFlag(FLAGS_max_connections);
  options.http.max_stream_queue_bytes = absl::GetFlag(FLAGS_max_stream_queue_bytes);
  options.http.stream_queue_budget_bytes = absl::GetFlag(FLAGS_stream_queue_budget_bytes);
  options.http.stream_socket_buffer_bytes =
      static_cast<int>(std::min<uint32_t>(absl::GetFlag(FLAGS_stream_socket_buffer_bytes), 64 << 20));
  options.http.max_http_threads = absl::GetFlag(FLAGS_max_http_threads);
  options.http.sse_loops = absl::GetFlag(FLAGS_sse_loops);
  options.http.stream_stall_timeout = absl::GetFlag(FLAGS_stream_stall_timeout);
  options.http.poll_max_timeout = absl::GetFlag(FLAGS_poll_max_timeout);
  options.http.poll_default_timeout =
      std::min(absl::GetFlag(FLAGS_poll_default_timeout), options.http.poll_max_timeout);
  options.http.demo_page = absl::GetFlag(FLAGS_demo_page);
  options.http.read_timeout = absl::GetFlag(FLAGS_http_read_timeout);
  options.http.write_timeout = absl::GetFlag(FLAGS_http_write_timeout);
  options.http.keep_alive_timeout = absl::GetFlag(FLAGS_http_keep_alive_timeout);
  options.http.max_request_head_bytes = absl::GetFlag(FLAGS_max_request_head_bytes);
  options.http.max_request_line_bytes = absl::GetFlag(FLAGS_max_request_line_bytes);
  options.http.head_timeout = absl::GetFlag(FLAGS_http_head_timeout);
  options.http.max_pending_connections = absl::GetFlag(FLAGS_max_pending_connections);
  options.http.max_request_body_bytes = absl::GetFlag(FLAGS_max_request_body_bytes);
  options.http.body_timeout = absl::GetFlag(FLAGS_http_body_timeout);
  if (options.http.max_request_body_bytes > (1 << 20)) {
    // The gate holds a body in the socket's receive buffer until it is whole.
    return absl::InvalidArgumentError("--max_request_body_bytes must be at most 1048576");
  }
  if (options.http.max_request_line_bytes > 8192 ||
      options.http.max_request_line_bytes > options.http.max_request_head_bytes) {
    return absl::InvalidArgumentError(
        "--max_request_line_bytes must be at most 8192 (cpp-httplib's own limit) and at most "
        "--max_request_head_bytes");
  }

  options.admin.bind_address = bind;
  options.admin.port = admin_port;

  options.sweep_interval = absl::GetFlag(FLAGS_sweep_interval);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.drain_spread = absl::GetFlag(FLAGS_drain_spread);
  absl::StatusOr<LogLevel> log_level = ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!log_level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--log_level: ", log_level.status().message()));
  }
  options.log_level = *log_level;
  options.client_auth.secret_file = absl::GetFlag(FLAGS_client_token_secret_file);
  options.client_auth.leeway = absl::GetFlag(FLAGS_client_token_leeway);
  options.client_auth.max_ttl = absl::GetFlag(FLAGS_client_token_max_ttl);
  options.http.client_token_cookie = absl::GetFlag(FLAGS_client_token_cookie);
  options.api_keys_file = absl::GetFlag(FLAGS_api_keys_file);
  options.grpc.reflection = absl::GetFlag(FLAGS_reflection);
  options.grpc.tls_cert = absl::GetFlag(FLAGS_grpc_tls_cert);
  options.grpc.tls_key = absl::GetFlag(FLAGS_grpc_tls_key);
  options.grpc.tls_client_ca = absl::GetFlag(FLAGS_grpc_tls_client_ca);
  if (options.client_auth.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--client_token_leeway must not be negative");
  }
  if (options.drain_spread < absl::ZeroDuration() || options.drain_spread >= options.shutdown_grace) {
    return absl::InvalidArgumentError("--drain_spread must be at least 0 and less than --shutdown_grace");
  }
  return options;
}

}  // namespace pushbroker
