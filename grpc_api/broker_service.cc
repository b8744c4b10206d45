#include "grpc_api/broker_service.h"

#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "broker/status_macros.h"
#include "broker/validation.h"

namespace pushbroker {
namespace {

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  out->set_seconds(nanos / 1000000000);
  out->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

// Text fields arrive as bytes; names and ids are checked by the core's
// validation, data and event for UTF-8 there too. The key is checked here.
absl::StatusOr<PublishRequest> ToCore(internal::PublishRequestWire& in) {
  using Wire = internal::PublishRequestWire;
  PublishRequest out;
  switch (in.target_case()) {
    case Wire::kClientId:
      out.target.kind = PublishTarget::Kind::kClient;
      out.target.client_id = in.client_id();
      break;
    case Wire::kClients:
      out.target.kind = PublishTarget::Kind::kClients;
      out.target.client_ids.assign(in.clients().ids().begin(), in.clients().ids().end());
      break;
    case Wire::kTopic:
      out.target.kind = PublishTarget::Kind::kTopic;
      out.target.topic = in.topic();
      break;
    case Wire::kBroadcast:
      if (!in.broadcast()) {
        return absl::InvalidArgumentError("broadcast must be true when it is the target");
      }
      out.target.kind = PublishTarget::Kind::kBroadcast;
      break;
    case Wire::TARGET_NOT_SET:
      break;  // the core says what is missing
  }
  // Moved, not copied: a large message then exists once at a time.
  out.event = std::move(*in.mutable_event());
  out.data = std::move(*in.mutable_data());
  out.idempotency_key = in.idempotency_key();
  if (!IsValidUtf8(out.idempotency_key)) {
    return absl::InvalidArgumentError("idempotency_key is not valid UTF-8");
  }
  if (in.has_ttl()) {
    if (in.ttl().seconds() < 0 || in.ttl().nanos() < 0 || in.ttl().nanos() >= 1000000000) {
      return absl::InvalidArgumentError("ttl is not a valid positive duration");
    }
    out.ttl = absl::Seconds(in.ttl().seconds()) + absl::Nanoseconds(in.ttl().nanos());
  }
  out.return_ids = in.return_ids();
  return out;
}

// The wait a request asks for (want kNone: none).
absl::StatusOr<PublishWait> WaitOf(const internal::PublishRequestWire& in) {
  PublishWait wait;
  switch (in.wait_for()) {
    case v1::RECEIPT_NONE:
      return wait;
    case v1::RECEIPT_DELIVERED:
      wait.want = Receipt::kDelivered;
      break;
    case v1::RECEIPT_ACKED:
      wait.want = Receipt::kAcked;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("wait_for ", in.wait_for(), " is not a Receipt (0, 1 or 2)"));
  }
  if (in.has_wait_timeout()) {
    const auto& timeout = in.wait_timeout();
    if (timeout.seconds() < 0 || timeout.nanos() < 0 || timeout.nanos() >= 1000000000) {
      return absl::InvalidArgumentError("wait_timeout is not a valid positive duration");
    }
    wait.timeout = absl::Seconds(timeout.seconds()) + absl::Nanoseconds(timeout.nanos());
  }
  return wait;
}

void ToWire(const BrokerEvent& event, v1::BrokerEvent* out) {
  out->set_id(event.id);
  out->set_kind(std::string(EventKindName(event.kind)));
  out->set_client_id(event.client_id);
  SetTimestamp(event.at, out->mutable_at());
  out->set_message_id(event.message_id);
  out->set_event(event.event);
  out->set_data(event.data);
  out->set_streams(event.streams);
  out->set_transport(event.transport);
  out->set_reason(event.reason);
  out->set_replica(event.replica);
  out->set_dropped(event.dropped);
}

// A publish waiting for receipts: the response is sent once both the
// publish result and the receipt counts are in, whichever comes last.
// Safe for concurrent access from multiple threads.
class ReceiptJoin {
 public:
  ReceiptJoin(grpc::ByteBuffer* out, std::function<void(absl::Status)> finish)
      : out_(out), finish_(std::move(finish)) {}
  // The publish failed: its wait never completes.
  void Fail(const absl::Status& status) { finish_(status); }
  void SetResponse(v1::PublishResponse response) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    response_ = std::move(response);
    MaybeFinishLocked();
  }
  void SetCounts(ReceiptCounts counts) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    counts_ = counts;
    MaybeFinishLocked();
  }

 private:
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!response_.has_value() || !counts_.has_value()) return;
    response_->set_delivered(counts_->delivered);
    response_->set_acked(counts_->acked);
    bool own_buffer = false;
    const bool serialized =
        grpc::SerializationTraits<v1::PublishResponse>::Serialize(*response_, out_, &own_buffer)
            .ok();
    finish_(serialized ? absl::OkStatus() : absl::InternalError("cannot serialize the response"));
  }

  absl::Mutex mu_;
  grpc::ByteBuffer* const out_;
  const std::function<void(absl::Status)> finish_;
  std::optional<v1::PublishResponse> response_ ABSL_GUARDED_BY(mu_);
  std::optional<ReceiptCounts> counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// Completes a PublishStream with read-ahead: each request is published as
// soon as it is read (so appends keep request order) and the next read
// starts at once, up to `window` requests whose answers are not yet written;
// answers go out one write at a time, in request order. A request that
// fails ends the stream after the answers before it, and nothing after it
// is read. The call finishes only once no publish waits for receipts, whose
// completions write into the slots. Thread-safe: gRPC's callbacks and
// receipt completions meet under mu_.
class BrokerService::PublishStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  PublishStreamReactor(BrokerService* service, const grpc::CallbackServerContext* context)
      : service_(service), window_(std::max<size_t>(1, service->publish_limits_.stream_window)) {
    absl::StatusOr<std::string> publisher = service_->Authorize(context);
    absl::MutexLock lock(&mu_);
    if (!publisher.ok()) {
      end_ = ToGrpcStatus(publisher.status());
      stopped_ = true;
    } else {
      publisher_ = *std::move(publisher);
    }
    ProgressLocked();
  }

  void OnReadDone(bool ok) override {
    Slot* slot;
    {
      absl::MutexLock lock(&mu_);
      // The client half-closed or the call ended; or the answers can no
      // longer be written, so nothing more is published.
      if (!ok || stopped_) {
        reading_ = false;
        reads_done_ = true;
        ProgressLocked();
        return;
      }
      slots_.push_back(std::make_unique<Slot>());
      slot = slots_.back().get();
      slot->index = read_++;
      ++publishing_;
    }
    // Unlocked: the answer may come at once, on this thread. reading_ stays
    // set meanwhile, so no other thread starts the next read into request_.
    service_->PublishBytes(publisher_, request_, &slot->response,
                           [this, slot](absl::Status status) { Answered(slot, status); });
    absl::MutexLock lock(&mu_);
    reading_ = false;
    ProgressLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      if (end_.ok()) end_ = grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading");
      stopped_ = true;
    } else {
      slots_.pop_front();
    }
    ProgressLocked();
  }

  void OnDone() override { delete this; }

 private:
  struct Slot {
    uint64_t index = 0;  // in the stream, from 0
    grpc::ByteBuffer response;
    bool answered = false;
    absl::Status status;
  };

  void Answered(Slot* slot, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    slot->answered = true;
    slot->status = std::move(status);
    --publishing_;
    // A failed publish stops the reading; it answers in its turn.
    if (!slot->status.ok()) failed_ = true;
    ProgressLocked();
  }

  // Starts whatever can start now: the next answer's write, the next read,
  // or the end of the call.
  void ProgressLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    if (!writing_ && !stopped_ && !slots_.empty() && slots_.front()->answered) {
      Slot& front = *slots_.front();
      if (front.status.ok()) {
        writing_ = true;
        StartWrite(&front.response);
      } else {
        end_ = ToGrpcStatus(absl::Status(
            front.status.code(),
            absl::StrCat("request #", front.index, " of the stream: ", front.status.message())));
        stopped_ = true;
      }
    }
    if (!reading_ && !reads_done_ && !failed_ && !stopped_ && slots_.size() < window_) {
      reading_ = true;
      StartRead(&request_);
    }
    const bool nothing_more = stopped_ || (reads_done_ && slots_.empty());
    if (nothing_more && !writing_ && !reading_ && publishing_ == 0) {
      finished_ = true;
      service_->RecordCall("PublishStream", end_);
      Finish(end_);
    }
  }

  BrokerService* const service_;
  const size_t window_;
  std::string publisher_;  // the API key's id; set before the first read
  // The read in progress, then the request being published: one at a time
  // (reading_ covers both).
  grpc::ByteBuffer request_;
  absl::Mutex mu_;
  std::deque<std::unique_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);  // unwritten, in order
  uint64_t read_ ABSL_GUARDED_BY(mu_) = 0;
  size_t publishing_ ABSL_GUARDED_BY(mu_) = 0;  // read, not answered yet
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;   // a publish failed: read no more
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // write nothing more: end with end_
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_ ABSL_GUARDED_BY(mu_);
};

// Serves one Watch: the first request opens a watch on the broker's event
// hub; events go out one write at a time as the client reads them (the hub
// keeps the backlog, bounded); later requests confirm events. Thread-safe:
// the hub's waker, gRPC's callbacks and confirmations meet under mu_.
class BrokerService::WatchReactor final
    : public grpc::ServerBidiReactor<v1::WatchRequest, v1::BrokerEvent> {
 public:
  WatchReactor(BrokerService* service, const grpc::CallbackServerContext* context)
      : service_(service), hub_(&service->broker_->events()) {
    absl::StatusOr<std::string> publisher = service_->Authorize(context);
    if (!publisher.ok()) {
      End(ToGrpcStatus(publisher.status()));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side: the watch ends
      End(grpc::Status::OK);
      return;
    }
    if (watch_ == nullptr) {
      absl::Status opened = Open();
      if (!opened.ok()) {
        End(ToGrpcStatus(opened));
        return;
      }
      StartRead(&request_);
      Pump();
      return;
    }
    if (request_.confirm_ids_size() > 0) {
      std::vector<std::string> ids(request_.confirm_ids().begin(), request_.confirm_ids().end());
      absl::StatusOr<bool> more = hub_->Confirm(*watch_, ids);
      if (!more.ok()) {
        End(ToGrpcStatus(more.status()));
        return;
      }
      if (*more) Pump();
    }
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher went away"));
      return;
    }
    Pump();
  }

  void OnDone() override {
    if (watch_ != nullptr) hub_->Close(*watch_);  // unconfirmed events go to the group
    delete this;
  }

 private:
  absl::Status Open() {
    WatchSpec spec;
    ASSIGN_OR_RETURN(spec.kinds,
                     ParseEventKinds({request_.kinds().begin(), request_.kinds().end()}));
    spec.group = request_.group();
    spec.after_id = request_.after_id();
    spec.client_id = request_.client_id();
    if (spec.group.size() > 256) return absl::InvalidArgumentError("group is over 256 bytes");
    if (request_.confirm_ids_size() > 0) {
      return absl::InvalidArgumentError("the first request opens the watch; confirm later");
    }
    ASSIGN_OR_RETURN(std::shared_ptr<WatchHub::Watch> watch,
                     hub_->Open(std::move(spec), [this] { Pump(); }));
    absl::MutexLock lock(&mu_);
    watch_ = std::move(watch);
    return absl::OkStatus();
  }

  // Writes the next event when none is being written. One write at a time:
  // a write with a buffer hint may wait for the next one to complete, and
  // the next is only started from its completion.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (writing_ || finished_ || watch_ == nullptr) return;
    if (queue_.empty()) {
      WatchBatch batch = hub_->Take(*watch_, kBatch);
      if (!batch.end.ok()) {
        EndLocked(ToGrpcStatus(batch.end));
        return;
      }
      for (BrokerEvent& event : batch.events) queue_.push_back(std::move(event));
    }
    if (queue_.empty()) return;  // the hub wakes us
    event_.Clear();
    ToWire(queue_.front(), &event_);
    queue_.pop_front();
    writing_ = true;
    StartWrite(&event_);
  }

  void End(grpc::Status status) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    EndLocked(std::move(status));
  }
  void EndLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    service_->RecordCall("Watch", status);
    Finish(std::move(status));
  }

  static constexpr size_t kBatch = 64;
  BrokerService* const service_;
  WatchHub* const hub_;
  v1::WatchRequest request_;  // read side only
  absl::Mutex mu_;
  // Set once by the read side before anything else uses it.
  std::shared_ptr<WatchHub::Watch> watch_;
  std::deque<BrokerEvent> queue_ ABSL_GUARDED_BY(mu_);
  v1::BrokerEvent event_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<v1::WatchRequest, v1::BrokerEvent>* BrokerService::Watch(
    grpc::CallbackServerContext* context) {
  return new WatchReactor(this, context);
}

BrokerService::BrokerService(Broker* broker, uint32_t default_retry_ms, Logger* logger,
                             const ClientAuthenticator* auth, const ApiKeys* api_keys,
                             RateLimit publish_rate, size_t max_metadata_bytes,
                             PublishCallLimits publish_limits)
    : broker_(broker),
      default_retry_ms_(default_retry_ms),
      max_metadata_bytes_(max_metadata_bytes),
      publish_limits_(publish_limits),
      logger_(logger),
      auth_(auth),
      api_keys_(api_keys),
      publish_rate_(publish_rate) {}

absl::StatusOr<std::string> BrokerService::Authorize(
    const grpc::CallbackServerContext* context) const {
  const auto& metadata = context->client_metadata();
  // Counted as HTTP/2 counts a header list: name, value and 32 bytes each.
  size_t metadata_bytes = 0;
  for (const auto& [key, value] : metadata) metadata_bytes += key.size() + value.size() + 32;
  if (metadata_bytes > max_metadata_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("the call's metadata is ", metadata_bytes,
                                                     " bytes; --grpc_max_metadata_bytes is ",
                                                     max_metadata_bytes_));
  }
  if (api_keys_ == nullptr || !api_keys_->required()) return std::string();
  auto it = metadata.find("authorization");
  const absl::string_view value = it == metadata.end()
                                      ? absl::string_view()
                                      : absl::string_view(it->second.data(), it->second.size());
  return api_keys_->Identify(value);
}

void BrokerService::RecordCall(absl::string_view method, const grpc::Status& status) {
  call_stats_.Record(method, status.error_code());
  if (status.ok()) return;
  const grpc::StatusCode code = status.error_code();
  // The caller's mistakes are routine (debug); the broker's own failures are errors.
  const bool ours = code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
                    code == grpc::StatusCode::DATA_LOSS;
  logger_->Log(ours ? LogLevel::kError : LogLevel::kDebug, "grpc_call_failed",
               {{"method", std::string(method)},
                {"code", StatusCodeName(code)},
                {"message", status.error_message()}});
}

template <typename Run>
grpc::ServerUnaryReactor* BrokerService::Unary(grpc::CallbackServerContext* context,
                                               absl::string_view method, Run run) {
  absl::StatusOr<std::string> publisher = Authorize(context);
  grpc::Status status = ToGrpcStatus(publisher.ok() ? run(*publisher) : publisher.status());
  RecordCall(method, status);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(std::move(status));
  return reactor;
}

absl::StatusOr<BrokerService::ParsedPublish> BrokerService::ParsePublish(
    const std::string& publisher, const grpc::ByteBuffer& request_bytes) {
  RETURN_IF_ERROR(publish_rate_.Take(publisher, 1, absl::Now()));
  internal::PublishRequestWire request;
  grpc::ByteBuffer input(request_bytes);  // Deserialize consumes its buffer
  if (!grpc::SerializationTraits<internal::PublishRequestWire>::Deserialize(&input, &request)
           .ok()) {
    return absl::InvalidArgumentError(
        "the request is not a well-formed pushbroker.v1.PublishRequest");
  }
  return ParseWire(request);
}

absl::StatusOr<BrokerService::ParsedPublish> BrokerService::ParseWire(
    internal::PublishRequestWire& request) {
  ParsedPublish parsed;
  ASSIGN_OR_RETURN(parsed.wait, WaitOf(request));
  ASSIGN_OR_RETURN(parsed.request, ToCore(request));
  return parsed;
}

void BrokerService::ToResponse(const PublishResult& result, v1::PublishResponse* response) {
  response->set_id(result.id);
  response->set_mailboxes(result.mailboxes);
  response->set_streams(result.streams);
  response->set_duplicate(result.duplicate);
  for (const auto& [client_id, id] : result.recipients) {
    v1::Recipient* recipient = response->add_recipients();
    recipient->set_client_id(client_id);
    recipient->set_id(id);
  }
}

void BrokerService::PublishBytes(const std::string& publisher,
                                 const grpc::ByteBuffer& request_bytes,
                                 grpc::ByteBuffer* response_bytes,
                                 std::function<void(absl::Status)> finish) {
  absl::StatusOr<ParsedPublish> parsed = ParsePublish(publisher, request_bytes);
  if (!parsed.ok()) return finish(parsed.status());
  if (parsed->wait.want == Receipt::kNone) {
    absl::StatusOr<PublishResult> result = broker_->Publish(std::move(parsed->request));
    if (!result.ok()) return finish(result.status());
    v1::PublishResponse response;
    ToResponse(*result, &response);
    bool own_buffer = false;
    const bool serialized = grpc::SerializationTraits<v1::PublishResponse>::Serialize(
                                response, response_bytes, &own_buffer)
                                .ok();
    return finish(serialized ? absl::OkStatus()
                             : absl::InternalError("cannot serialize the response"));
  }
  // The receipts may all be in before Publish returns, or come much later.
  auto join = std::make_shared<ReceiptJoin>(response_bytes, std::move(finish));
  parsed->wait.done = [join](ReceiptCounts counts) { join->SetCounts(counts); };
  absl::StatusOr<PublishResult> result =
      broker_->Publish(std::move(parsed->request), std::move(parsed->wait));
  if (!result.ok()) return join->Fail(result.status());  // the wait never completes then
  v1::PublishResponse response;
  ToResponse(*result, &response);
  join->SetResponse(std::move(response));
}

// A PublishBatch some of whose requests wait for receipts: answered once
// every request was published and every wait has completed, whichever comes
// last. Safe for concurrent access from multiple threads.
class BrokerService::BatchJoin : public std::enable_shared_from_this<BatchJoin> {
 public:
  BatchJoin(grpc::ByteBuffer* out, std::function<void(absl::Status)> finish)
      : out_(out), finish_(std::move(finish)) {}

  // The publishing thread fills it until Published().
  v1::PublishBatchResponse& response() { return response_; }
  // Request `index` will wait: its receipt callback.
  std::function<void(ReceiptCounts)> Waiter(size_t index) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ++waiting_;
    return
        [self = shared_from_this(), index](ReceiptCounts counts) { self->Counted(index, counts); };
  }
  // Request `index` failed after all: its wait never completes.
  void NoWait() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    --waiting_;
  }
  void Published() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    published_ = true;
    MaybeFinishLocked();
  }

 private:
  void Counted(size_t index, ReceiptCounts counts) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    counts_.emplace_back(index, counts);
    --waiting_;
    MaybeFinishLocked();
  }
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!published_ || waiting_ > 0) return;
    for (const auto& [index, counts] : counts_) {
      v1::PublishResponse* response = response_.mutable_results(index)->mutable_response();
      response->set_delivered(counts.delivered);
      response->set_acked(counts.acked);
    }
    bool own_buffer = false;
    const bool serialized =
        grpc::SerializationTraits<v1::PublishBatchResponse>::Serialize(response_, out_, &own_buffer)
            .ok();
    finish_(serialized ? absl::OkStatus() : absl::InternalError("cannot serialize the response"));
  }

  absl::Mutex mu_;
  grpc::ByteBuffer* const out_;
  const std::function<void(absl::Status)> finish_;
  // Written by the publishing thread alone until published_, then here.
  v1::PublishBatchResponse response_;
  size_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool published_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<size_t, ReceiptCounts>> counts_ ABSL_GUARDED_BY(mu_);
};

void BrokerService::PublishBatchBytes(const std::string& publisher,
                                      const grpc::ByteBuffer& request_bytes,
                                      grpc::ByteBuffer* response_bytes,
                                      std::function<void(absl::Status)> finish) {
  internal::PublishBatchRequestWire batch;
  grpc::ByteBuffer input(request_bytes);  // Deserialize consumes its buffer
  if (!grpc::SerializationTraits<internal::PublishBatchRequestWire>::Deserialize(&input, &batch)
           .ok()) {
    return finish(absl::InvalidArgumentError(
        "the request is not a well-formed pushbroker.v1.PublishBatchRequest"));
  }
  const size_t size = static_cast<size_t>(batch.requests_size());
  if (size == 0) return finish(absl::InvalidArgumentError("requests is empty"));
  if (size > publish_limits_.max_batch_size) {
    return finish(absl::InvalidArgumentError(absl::StrCat("the batch has ", size,
                                                          " requests; --max_batch_size is ",
                                                          publish_limits_.max_batch_size)));
  }
  // The whole batch, or none of it, against the publisher's rate.
  if (absl::Status rate = publish_rate_.Take(publisher, static_cast<double>(size), absl::Now());
      !rate.ok()) {
    return finish(rate);
  }
  auto join = std::make_shared<BatchJoin>(response_bytes, std::move(finish));
  v1::PublishBatchResponse& response = join->response();
  response.mutable_results()->Reserve(static_cast<int>(size));
  for (size_t i = 0; i < size; ++i) {
    v1::PublishResult* out = response.add_results();
    absl::StatusOr<ParsedPublish> parsed = ParseWire(*batch.mutable_requests(static_cast<int>(i)));
    absl::StatusOr<PublishResult> result;
    if (!parsed.ok()) {
      result = parsed.status();
    } else if (parsed->wait.want == Receipt::kNone) {
      result = broker_->Publish(std::move(parsed->request));
    } else {
      parsed->wait.done = join->Waiter(i);
      result = broker_->Publish(std::move(parsed->request), std::move(parsed->wait));
      if (!result.ok()) join->NoWait();
    }
    if (result.ok()) {
      ToResponse(*result, out->mutable_response());
    } else {
      out->mutable_error()->set_code(static_cast<int32_t>(result.status().code()));
      out->mutable_error()->set_message(std::string(result.status().message()));
    }
  }
  join->Published();
}

template <typename Run>
grpc::ServerUnaryReactor* BrokerService::UnaryWithFinish(grpc::CallbackServerContext* context,
                                                         absl::string_view method, Run run) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::function<void(absl::Status)> finish = [this, reactor, method](absl::Status status) {
    grpc::Status result = ToGrpcStatus(status);
    RecordCall(method, result);
    reactor->Finish(std::move(result));
  };
  absl::StatusOr<std::string> publisher = Authorize(context);
  if (!publisher.ok()) {
    finish(publisher.status());
  } else {
    run(*publisher, std::move(finish));
  }
  return reactor;
}

grpc::ServerUnaryReactor* BrokerService::Publish(grpc::CallbackServerContext* context,
                                                 const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response) {
  return UnaryWithFinish(context, "Publish", [&](const std::string& publisher, auto finish) {
    PublishBytes(publisher, *request, response, std::move(finish));
  });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* BrokerService::PublishStream(
    grpc::CallbackServerContext* context) {
  return new PublishStreamReactor(this, context);
}

grpc::ServerUnaryReactor* BrokerService::PublishBatch(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return UnaryWithFinish(context, "PublishBatch", [&](const std::string& publisher, auto finish) {
    PublishBatchBytes(publisher, *request, response, std::move(finish));
  });
}

grpc::ServerUnaryReactor* BrokerService::Subscribe(grpc::CallbackServerContext* context,
                                                   const v1::SubscribeRequest* request,
                                                   v1::SubscribeResponse* response) {
  return Unary(context, "Subscribe", [&](const std::string&) {
    return broker_->Subscribe(request->client_id(), request->topic());
  });
}

grpc::ServerUnaryReactor* BrokerService::Unsubscribe(grpc::CallbackServerContext* context,
                                                     const v1::UnsubscribeRequest* request,
                                                     v1::UnsubscribeResponse* response) {
  return Unary(context, "Unsubscribe", [&](const std::string&) {
    return broker_->Unsubscribe(request->client_id(), request->topic());
  });
}

grpc::ServerUnaryReactor* BrokerService::GetClient(grpc::CallbackServerContext* context,
                                                   const v1::GetClientRequest* request,
                                                   v1::ClientInfo* response) {
  return Unary(context, "GetClient",
               [&](const std::string&) { return FillClientInfo(request->client_id(), response); });
}

grpc::ServerUnaryReactor* BrokerService::History(grpc::CallbackServerContext* context,
                                                 const v1::HistoryRequest* request,
                                                 v1::HistoryResponse* response) {
  return Unary(context, "History",
               [&](const std::string&) { return FillHistory(*request, response); });
}

grpc::ServerUnaryReactor* BrokerService::Disconnect(grpc::CallbackServerContext* context,
                                                    const v1::DisconnectRequest* request,
                                                    v1::DisconnectResponse* response) {
  return Unary(context, "Disconnect", [&](const std::string&) -> absl::Status {
    const uint32_t retry_ms = request->retry_ms() == 0 ? default_retry_ms_ : request->retry_ms();
    ASSIGN_OR_RETURN(size_t closed, broker_->Disconnect(request->client_id(), retry_ms));
    response->set_streams(static_cast<uint32_t>(closed));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* BrokerService::DeleteClient(grpc::CallbackServerContext* context,
                                                      const v1::DeleteClientRequest* request,
                                                      v1::DeleteClientResponse* response) {
  return Unary(context, "DeleteClient",
               [&](const std::string&) { return broker_->DeleteClient(request->client_id()); });
}

grpc::ServerUnaryReactor* BrokerService::IssueClientToken(
    grpc::CallbackServerContext* context, const v1::IssueClientTokenRequest* request,
    v1::IssueClientTokenResponse* response) {
  return Unary(context, "IssueClientToken",
               [&](const std::string&) { return IssueToken(*request, response); });
}

absl::Status BrokerService::FillClientInfo(const std::string& client_id, v1::ClientInfo* response) {
  ASSIGN_OR_RETURN(ClientState state, broker_->GetClient(client_id));
  response->set_client_id(state.client_id);
  response->set_online(state.online);
  response->set_streams(static_cast<uint32_t>(state.streams));
  for (const std::string& topic : state.topics) response->add_topics(topic);
  response->set_mailbox_size(static_cast<uint32_t>(state.mailbox_size));
  if (state.first_id) response->set_first_id(state.first_id->ToString());
  if (state.last_id) response->set_last_id(state.last_id->ToString());
  if (state.last_seen != absl::InfinitePast()) {
    SetTimestamp(state.last_seen, response->mutable_last_seen());
  }
  return absl::OkStatus();
}

absl::Status BrokerService::FillHistory(const v1::HistoryRequest& request,
                                        v1::HistoryResponse* response) {
  ASSIGN_OR_RETURN(HistoryPage page,
                   broker_->History(request.client_id(), request.after_id(), request.limit()));
  for (const Message& message : page.messages) {
    v1::HistoryMessage* out = response->add_messages();
    out->set_id(message.id.ToString());
    out->set_event(message.payload->event);
    out->set_data(message.payload->data);
    SetTimestamp(message.published_at, out->mutable_published_at());
  }
  if (page.reset.has_value()) {
    response->mutable_reset()->set_reason(std::string(ResetReasonName(*page.reset)));
    if (page.earliest_retained) {
      response->mutable_reset()->set_earliest_id(page.earliest_retained->ToString());
    }
  }
  response->set_more(page.more);
  return absl::OkStatus();
}

absl::Status BrokerService::IssueToken(const v1::IssueClientTokenRequest& request,
                                       v1::IssueClientTokenResponse* response) {
  RETURN_IF_ERROR(ValidateClientId(request.client_id(), broker_->limits()));
  if (auth_ == nullptr) {
    return absl::FailedPreconditionError(
        "client tokens are off: start the broker with --client_token_secret_file");
  }
  absl::Duration ttl = absl::Hours(1);
  if (request.has_ttl()) {
    ttl = absl::Seconds(request.ttl().seconds()) + absl::Nanoseconds(request.ttl().nanos());
  }
  const absl::Time now = absl::Now();
  ASSIGN_OR_RETURN(std::string token, auth_->Issue(request.client_id(), ttl, now));
  response->set_token(token);
  // exp is in whole seconds, as the token carries it.
  SetTimestamp(absl::FromUnixSeconds(absl::ToUnixSeconds(now + ttl)),
               response->mutable_expires_at());
  return absl::OkStatus();
}

}  // namespace pushbroker
