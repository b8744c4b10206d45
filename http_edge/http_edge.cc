#include "http_edge/http_edge.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "auth/bearer.h"
#include "http_edge/demo_page.h"
#include "http_edge/json_error.h"
#include "http_edge/poll_batch.h"
#include "http_edge/poll_waiter.h"
#include "http_edge/sse/sse_format.h"
#include "nlohmann/json.hpp"

namespace pushbroker {
namespace {

constexpr char kEventsPath[] = "/v1/events";
constexpr char kPollPath[] = "/v1/poll";
constexpr char kAckPath[] = "/v1/ack";
constexpr char kMessagesPath[] = "/v1/messages";

std::string ResetData(const OpenedStream& opened, const std::optional<std::string>& last_event_id) {
  nlohmann::json data = {{"reason", std::string(ResetReasonName(*opened.reset))}};
  data["earliest_id"] = opened.earliest_retained.has_value()
                            ? nlohmann::json(opened.earliest_retained->ToString())
                            : nlohmann::json(nullptr);
  data["last_event_id"] = last_event_id.value_or("").substr(0, 128);
  return data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The stream's opening: retry advice, a reset notice when the client's id
// could not be continued (or, for a client that sent no id, an id-only
// event), then the replay. One chunk.
std::string OpeningChunk(const OpenedStream& opened,
                         const std::optional<std::string>& last_event_id, uint32_t retry_ms) {
  std::string body = EncodeSseRetry(retry_ms);
  const uint64_t before_replay =
      opened.replay.empty() ? opened.position.next_offset - 1 : opened.replay.front().id.offset - 1;
  const std::string position = MessageId{opened.position.epoch, before_replay}.ToString();
  if (opened.reset.has_value()) {
    // The reset carries the id just before the replay, so a reconnect right
    // after it continues from there instead of resetting again.
    body += EncodeSseEvent(position, "reset", ResetData(opened, last_event_id));
  } else if (!last_event_id.has_value()) {
    // A client that connects without an id holds its position from the
    // first byte: an event with an id and no data sets EventSource's
    // lastEventId without dispatching anything. If the connection breaks
    // before any message arrives, the browser reconnects with this id and
    // the replay is exact.
    body += EncodeSseIdOnly(position);
  }
  for (const Message& message : opened.replay) {
    body += EncodeSseEvent(message.id.ToString(), message.payload->event, message.payload->data);
  }
  return EncodeChunk(body);
}

}  // namespace

HttpEdge::HttpEdge(HttpEdgeOptions options, Broker* broker, Logger* logger,
                   const ClientAuthenticator* auth, const Clock* clock)
    : options_(std::move(options)),
      broker_(broker),
      logger_(logger),
      auth_(auth != nullptr && auth->enabled() ? auth : nullptr),
      clock_(clock),
      cors_(options_.cors_origins),
      upstream_rate_(RateLimit{options_.upstream_rate_per_client,
                               options_.upstream_burst_per_client, "--upstream_rate_per_client",
                               "this client", options_.upstream_max_clients}),
      stream_memory_(options_.stream_queue_budget_bytes),
      slots_(options_.max_connections),
      server_(
          HandoffServerOptions{
              RequestGateOptions{options_.max_request_head_bytes, options_.max_request_line_bytes,
                                 options_.head_timeout, options_.keep_alive_timeout,
                                 options_.max_pending_connections, options_.max_request_body_bytes,
                                 options_.body_timeout},
              options_.max_http_threads, options_.accept},
          clock) {
  const SseLoopOptions loop_options{options_.heartbeat_interval, absl::Seconds(5),
                                    options_.stream_stall_timeout,
                                    options_.stream_socket_buffer_bytes};
  for (size_t i = 0; i < std::max<size_t>(1, options_.sse_loops); ++i) {
    loops_.push_back(std::make_unique<SseLoop>(
        loop_options,
        [this](const std::shared_ptr<SseStream>& stream, StreamEnd why) {
          OnStreamEnded(stream, why);
        },
        [this](const std::shared_ptr<SseStream>& stream, uint64_t offset) {
          broker_->ConfirmDelivered(stream->client_id(), MessageId{stream->epoch(), offset});
        },
        [this](const std::shared_ptr<SseStream>& stream, uint64_t first, uint64_t through) {
          broker_->ReportDelivered(stream->client_id(), stream->epoch(), first, through, "sse");
        },
        &stats_, &stream_memory_, clock_));
  }
  RegisterRoutes();
}

void HttpEdge::StopLoops() {
  for (auto& loop : loops_) loop->Stop();
}

HttpEdge::~HttpEdge() { Stop(); }

void HttpEdge::OnStreamEnded(const std::shared_ptr<SseStream>& stream, StreamEnd why) {
  broker_->UnregisterStream(stream->client_id(), stream.get(), StreamEndName(why));
  stream->TakeSlot().Release();
  stats_.stream_ends[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  logger_->Info("stream_closed",
                {{"client_id", stream->client_id()},
                 {"reason", std::string(StreamEndName(why))},
                 {"duration_s", absl::ToDoubleSeconds(clock_->Now() - stream->opened_at())}});
}

std::optional<StreamSlot> HttpEdge::TryReserveStream(httplib::Response& res) {
  if (draining_) {
    stats_.refused_over_limit.fetch_add(1, std::memory_order_relaxed);
    res.set_header("Retry-After", std::to_string(std::max<uint32_t>(1, options_.retry_ms / 1000)));
    SetJsonError(res, 503, "draining",
                 "this broker is shutting down; reconnect to another replica");
    return std::nullopt;
  }
  std::optional<StreamSlot> slot = slots_.TryTake();
  if (!slot.has_value()) {
    stats_.refused_over_limit.fetch_add(1, std::memory_order_relaxed);
    res.set_header("Retry-After", "5");
    SetJsonError(res, 503, "too_many_connections",
                 absl::StrCat("this broker holds --max_connections=", options_.max_connections,
                              " streams; retry later"));
  }
  return slot;
}

std::string HttpEdge::TokenOf(const httplib::Request& req) const {
  if (std::string token = req.get_param_value("token"); !token.empty()) return token;
  const std::string authorization = req.get_header_value("Authorization");
  if (std::optional<absl::string_view> token = BearerToken(authorization); token.has_value()) {
    return std::string(*token);
  }
  for (absl::string_view cookie : absl::StrSplit(req.get_header_value("Cookie"), ';')) {
    cookie = absl::StripAsciiWhitespace(cookie);
    const size_t equals = cookie.find('=');
    if (equals != absl::string_view::npos &&
        cookie.substr(0, equals) == options_.client_token_cookie) {
      return std::string(cookie.substr(equals + 1));
    }
  }
  return "";
}

std::optional<HttpEdge::Admission> HttpEdge::AdmitClient(const httplib::Request& req,
                                                         httplib::Response& res) {
  if (!cors_.Allows(req)) {
    SetJsonError(res, 403, "origin_not_allowed", "this origin is not in --cors_origins");
    return std::nullopt;
  }
  cors_.AddHeaders(req, res);
  if (!req.has_param("client_id")) {
    SetJsonError(res, 400, "invalid_argument", "the client_id query parameter is required");
    return std::nullopt;
  }
  Admission admission{req.get_param_value("client_id")};
  if (absl::Status valid = ValidateClientId(admission.client_id, broker_->limits()); !valid.ok()) {
    SetJsonError(res, valid);
    return std::nullopt;
  }
  if (auth_ == nullptr) return admission;
  absl::StatusOr<ClientToken> token = auth_->Verify(TokenOf(req), clock_->Now());
  if (!token.ok()) {
    res.set_header("WWW-Authenticate", "Bearer");
    SetJsonError(res, 401, "unauthenticated", token.status().message());
    return std::nullopt;
  }
  if (token->client_id != admission.client_id) {
    SetJsonError(res, 403, "permission_denied", "the token is for another client");
    return std::nullopt;
  }
  admission.token_expires_at = token->expires_at;
  return admission;
}

void HttpEdge::AnswerPreflightAndOtherMethods(const std::string& paths, const std::string& method,
                                              const std::string& allowed_headers) {
  server_.Options(paths, [this, method, allowed_headers](const httplib::Request& req,
                                                         httplib::Response& res) {
    if (!cors_.Allows(req)) {
      return SetJsonError(res, 403, "origin_not_allowed", "this origin is not in --cors_origins");
    }
    cors_.AddHeaders(req, res);
    res.set_header("Access-Control-Allow-Methods", absl::StrCat(method, ", OPTIONS"));
    res.set_header("Access-Control-Allow-Headers", allowed_headers);
    res.set_header("Access-Control-Max-Age", "600");
    res.status = 204;
  });
  auto not_allowed = [method](const httplib::Request& req, httplib::Response& res) {
    res.set_header("Allow", absl::StrCat(method, ", OPTIONS"));
    SetJsonError(res, 405, "method_not_allowed",
                 absl::StrCat(req.method, " is not allowed on ", req.path, "; use ", method));
  };
  if (method != "GET") server_.Get(paths, not_allowed);
  if (method != "POST") server_.Post(paths, not_allowed);
  server_.Put(paths, not_allowed);
  server_.Patch(paths, not_allowed);
  server_.Delete(paths, not_allowed);
}

void HttpEdge::RegisterRoutes() {
  server_.Get(kEventsPath, [this](const httplib::Request& req, httplib::Response& res) {
    HandleEvents(req, res);
  });
  server_.Get(kPollPath, [this](const httplib::Request& req, httplib::Response& res) {
    HandlePoll(req, res);
  });
  if (options_.demo_page) {
    server_.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      const absl::string_view page = DemoPageHtml();
      res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
    });
  }
  // Browsers ask for it; an empty answer keeps their consoles quiet.
  server_.Get("/favicon.ico",
              [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  server_.Post(kAckPath, [this](const httplib::Request& req, httplib::Response& res) {
    HandleAck(req, res);
  });
  server_.Post(kMessagesPath, [this](const httplib::Request& req, httplib::Response& res) {
    HandleSendUp(req, res);
  });
  AnswerPreflightAndOtherMethods(absl::StrCat("(", kAckPath, "|", kMessagesPath, ")"), "POST",
                                 "Content-Type, Authorization");
  AnswerPreflightAndOtherMethods(absl::StrCat("(", kEventsPath, "|", kPollPath, ")"), "GET",
                                 "Last-Event-ID, Authorization, Cache-Control");
  server_.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        if (res.status == 404) {
          SetJsonError(res, 404, "not_found", "no such path; the stream is at /v1/events");
        } else {
          SetJsonError(res, res.status, res.status == 400 ? "bad_request" : "http_error",
                       res.status == 400
                           ? "the request is not well-formed HTTP/1.1"
                           : absl::StrCat("the request failed with HTTP status ", res.status));
        }
        return httplib::Server::HandlerResponse::Handled;
      }));
}

void HttpEdge::HandleEvents(const httplib::Request& req, httplib::Response& res) {
  const std::optional<Admission> admitted = AdmitClient(req, res);
  if (!admitted.has_value()) return;
  const std::string& client_id = admitted->client_id;
  // The header (what EventSource sends on reconnect) wins over the query
  // parameter (what a page passes on its first connect). An unparsable id
  // is not an error: it yields a reset, because any answer but 200 stops an
  // EventSource for good.
  std::optional<std::string> last_event_id;
  if (std::string header = req.get_header_value("Last-Event-ID"); !header.empty()) {
    last_event_id = std::move(header);
  } else if (std::string param = req.get_param_value("last_event_id"); !param.empty()) {
    last_event_id = std::move(param);
  }

  std::optional<StreamSlot> slot = TryReserveStream(res);
  if (!slot.has_value()) return;
  SseLoop* loop = loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()].get();
  auto stream = std::make_shared<SseStream>(client_id, loop, options_.max_stream_queue_bytes,
                                            &stream_memory_, clock_->Now(), *std::move(slot));
  stream->set_token_expires_at(admitted->token_expires_at);
  absl::StatusOr<OpenedStream> opened = broker_->OpenStream(client_id, last_event_id, stream);
  if (!opened.ok() && opened.status().code() == absl::StatusCode::kUnavailable) {
    return AskToComeBack(res, opened.status());
  }
  if (!opened.ok()) return SetJsonError(res, opened.status());  // the slot goes with `stream`
  Handoff handoff{[loop, stream](int fd) { loop->Adopt(stream, fd); },
                  [this, stream] { OnStreamEnded(stream, StreamEnd::kAbandoned); }};
  if (!server_.PrepareHandoff(req, std::move(handoff))) {
    OnStreamEnded(stream, StreamEnd::kInternalError);
    return SetJsonError(res, 500, "internal", "the connection cannot be handed off");
  }
  // The replay reads through the last offset assigned (expired messages are
  // skipped), so live messages continue right after it.
  const uint64_t replayed_through = opened->position.next_offset - 1;
  logger_->Info("stream_opened",
                {{"client_id", client_id},
                 {"transport", "sse"},
                 {"remote", req.remote_addr},
                 {"resumed", last_event_id.has_value()},
                 {"reset", opened->reset ? std::string(ResetReasonName(*opened->reset)) : ""},
                 {"replayed", opened->replay.size()}});
  const uint64_t replayed_from = opened->replay.empty() ? 0 : opened->replay.front().id.offset;
  stream->Prime(OpeningChunk(*opened, last_event_id, options_.retry_ms), replayed_from,
                replayed_through, opened->position.epoch);

  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  // Exactly "text/event-stream": httplib gzips any other text type, and a
  // browser's EventSource then stalls. The provider writes nothing: httplib
  // sends the headers, then the socket leaves it for the loop.
  HandoffServer* server = &server_;
  res.set_chunked_content_provider("text/event-stream", [server, &req](size_t, httplib::DataSink&) {
    server->CommitHandoff(req);
    return false;
  });
}

void HttpEdge::AskToComeBack(httplib::Response& res, const absl::Status& why) {
  // Any status but 200 would stop an EventSource for good: answer an empty
  // stream that advises a jittered retry of 3 to 10 s and ends.
  stats_.streams_deferred.fetch_add(1, std::memory_order_relaxed);
  absl::BitGen random;
  const uint32_t retry_ms = absl::Uniform<uint32_t>(random, 3000, 10001);
  logger_->Warn("stream_deferred",
                {{"message", std::string(why.message())}, {"retry_ms", retry_ms}});
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  // A chunked body that ends: the end of the response, for every client.
  std::string body =
      absl::StrCat(": store unavailable, come back later\n", EncodeSseRetry(retry_ms));
  res.set_chunked_content_provider("text/event-stream",
                                   [body = std::move(body)](size_t, httplib::DataSink& sink) {
                                     sink.write(body.data(), body.size());
                                     sink.done();
                                     return true;
                                   });
}

void HttpEdge::HandlePoll(const httplib::Request& req, httplib::Response& res) {
  const std::optional<Admission> admitted = AdmitClient(req, res);
  if (!admitted.has_value()) return;
  const std::string& client_id = admitted->client_id;
  absl::Duration timeout = options_.poll_default_timeout;
  if (req.has_param("timeout_ms")) {
    uint32_t timeout_ms = 0;
    if (!absl::SimpleAtoi(req.get_param_value("timeout_ms"), &timeout_ms) ||
        absl::Milliseconds(timeout_ms) > options_.poll_max_timeout) {
      return SetJsonError(res, 400, "invalid_argument",
                          absl::StrCat("timeout_ms must be a whole number from 0 to ",
                                       absl::ToInt64Milliseconds(options_.poll_max_timeout)));
    }
    timeout = absl::Milliseconds(timeout_ms);
  }
  // Like Last-Event-ID: an unparsable cursor yields a reset, not an error.
  std::optional<std::string> after;
  if (std::string param = req.get_param_value("after"); !param.empty()) after = std::move(param);

  const std::optional<StreamSlot> slot = TryReserveStream(res);  // held until the answer
  if (!slot.has_value()) return;
  stats_.polls.fetch_add(1, std::memory_order_relaxed);
  auto waiter = std::make_shared<PollWaiter>();
  absl::StatusOr<OpenedStream> opened = broker_->OpenStream(client_id, after, waiter);
  if (!opened.ok()) return SetJsonError(res, opened.status());
  PollBatch batch;
  batch.reset = opened->reset;
  batch.earliest_retained = opened->earliest_retained;
  batch.after = after.value_or("");
  bool abandoned = false;
  if (opened->replay.empty() && !opened->reset.has_value()) {
    // Nothing to answer yet: wait for the next message. What arrives is new,
    // since the replay read after registration found nothing.
    // A poll never waits past its token's expiry.
    abandoned = !waiter->Wait(std::min(timeout, admitted->token_expires_at - clock_->Now()),
                              stopping_, server_.SocketOf(req));
    batch.messages =
        waiter->TakeFrom(MessageId{opened->position.epoch, opened->position.next_offset});
    batch.retry_ms = waiter->retry_ms();
  } else {
    batch.messages = std::move(opened->replay);
  }
  broker_->UnregisterStream(
      client_id, waiter.get(),
      abandoned ? "abandoned" : (batch.messages.empty() ? "timeout" : "answered"));
  if (abandoned) {
    // The client gave up (page closed, fetch aborted, proxy timeout): its
    // slot and this thread are free now, and what arrived stays in the
    // mailbox, unconfirmed.
    stats_.polls_abandoned.fetch_add(1, std::memory_order_relaxed);
    res.status = 499;  // never sent: the connection is gone
    return;
  }
  batch.cursor = batch.messages.empty()
                     ? MessageId{opened->position.epoch, opened->position.next_offset - 1}
                     : batch.messages.back().id;
  res.set_header("Cache-Control", "no-store");
  res.set_content(EncodePollBatch(batch), "application/json");
  if (!batch.messages.empty()) {
    // A poll's batch is in one epoch (a reset starts the replay anew).
    broker_->ReportDelivered(client_id, batch.messages.front().id.epoch,
                             batch.messages.front().id.offset, batch.messages.back().id.offset,
                             "poll");
  }
}

std::optional<nlohmann::json> HttpEdge::AdmitUpstream(const Admission& admission,
                                                      const httplib::Request& req,
                                                      httplib::Response& res) {
  if (req.body.size() > options_.max_upstream_bytes) {
    SetJsonError(res, 413, "payload_too_large",
                 absl::StrCat("the body is ", req.body.size(), " bytes; --max_upstream_bytes is ",
                              options_.max_upstream_bytes));
    return std::nullopt;
  }
  absl::Duration retry_after;
  if (absl::Status allowed =
          upstream_rate_.Take(admission.client_id, 1, clock_->Now(), &retry_after);
      !allowed.ok()) {
    stats_.upstream_refused.fetch_add(1, std::memory_order_relaxed);
    res.set_header("Retry-After",
                   std::to_string(std::max<int64_t>(
                       1, absl::ToInt64Seconds(absl::Ceil(retry_after, absl::Seconds(1))))));
    SetJsonError(res, 429, "rate_limited", allowed.message());
    return std::nullopt;
  }
  nlohmann::json body = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    SetJsonError(res, 400, "invalid_argument", "the body must be a JSON object");
    return std::nullopt;
  }
  return body;
}

void HttpEdge::HandleAck(const httplib::Request& req, httplib::Response& res) {
  const std::optional<Admission> admitted = AdmitClient(req, res);
  if (!admitted.has_value()) return;
  std::optional<nlohmann::json> body = AdmitUpstream(*admitted, req, res);
  if (!body.has_value()) return;
  auto ids_field = body->find("ids");
  if (ids_field == body->end() || !ids_field->is_array()) {
    return SetJsonError(res, 400, "invalid_argument",
                        "the body must be {\"ids\": [\"<message id>\", ...]}");
  }
  std::vector<std::string> ids;
  for (const nlohmann::json& id : *ids_field) {
    if (!id.is_string()) {
      return SetJsonError(res, 400, "invalid_argument", "every entry of ids must be a string");
    }
    ids.push_back(id.get<std::string>());
  }
  absl::StatusOr<size_t> acked = broker_->Acknowledge(admitted->client_id, ids);
  if (!acked.ok()) return SetJsonError(res, acked.status());
  stats_.acks.fetch_add(*acked, std::memory_order_relaxed);
  res.set_header("Cache-Control", "no-store");
  res.set_content(nlohmann::json({{"acked", *acked}}).dump(), "application/json");
}

void HttpEdge::HandleSendUp(const httplib::Request& req, httplib::Response& res) {
  const std::optional<Admission> admitted = AdmitClient(req, res);
  if (!admitted.has_value()) return;
  std::optional<nlohmann::json> body = AdmitUpstream(*admitted, req, res);
  if (!body.has_value()) return;
  std::string fields[2];  // event, data
  const char* names[2] = {"event", "data"};
  for (int i = 0; i < 2; ++i) {
    auto field = body->find(names[i]);
    if (field == body->end() || field->is_null()) continue;
    if (!field->is_string()) {
      return SetJsonError(res, 400, "invalid_argument",
                          absl::StrCat("\"", names[i], "\" must be a string"));
    }
    fields[i] = field->get<std::string>();
  }
  absl::StatusOr<std::string> id =
      broker_->ReceiveFromClient(admitted->client_id, fields[0], fields[1]);
  if (!id.ok()) return SetJsonError(res, id.status());
  stats_.client_messages.fetch_add(1, std::memory_order_relaxed);
  res.status = 202;
  res.set_header("Cache-Control", "no-store");
  res.set_content(nlohmann::json({{"id", *id}}).dump(), "application/json");
}

absl::Status HttpEdge::Start() {
  if (!options_.static_dir.empty()) {
    // httplib refuses paths that climb out of the directory.
    if (!server_.set_mount_point("/static", options_.static_dir)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--static_dir=", options_.static_dir, " is not a readable directory"));
    }
    server_.set_file_extension_and_mimetype_mapping("mjs", "text/javascript");
  }
  for (auto& loop : loops_) {
    if (absl::Status started = loop->Start(); !started.ok()) {
      StopLoops();
      return started;
    }
  }
  if (absl::Status started = server_.StartConnections(); !started.ok()) {
    StopLoops();
    return started;
  }
  server_.set_read_timeout(absl::ToChronoMicroseconds(options_.read_timeout));
  server_.set_write_timeout(absl::ToChronoMicroseconds(options_.write_timeout));
  // httplib counts keep-alive in whole seconds.
  server_.set_keep_alive_timeout(
      std::max<time_t>(1, absl::ToInt64Seconds(options_.keep_alive_timeout)));
  server_.set_tcp_nodelay(true);
  absl::StatusOr<int> port =
      server_.Bind(options_.bind_address, options_.port, options_.listen_backlog);
  if (!port.ok()) {
    server_.StopConnections();
    StopLoops();
    return absl::UnavailableError(absl::StrCat("HTTP: ", port.status().message()));
  }
  port_ = *port;
  server_.set_payload_max_length(options_.max_request_body_bytes);  // the gate checks first
  server_.ServeInBackground([this](const absl::Status& failure) {
    logger_->Error("listener_failed",
                   {{"listener", "http"}, {"message", std::string(failure.message())}});
  });
  started_ = true;
  return absl::OkStatus();
}

void HttpEdge::Stop() {
  if (!started_) return;
  started_ = false;
  stopping_ = true;  // waiting polls answer now
  server_.StopServing();
  server_.JoinServing();
  server_.StopConnections();
  StopLoops();
}

}  // namespace pushbroker
