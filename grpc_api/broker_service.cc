#include "grpc_api/broker_service.h"

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

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbers.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// Completes a PublishStream: reads a request, publishes, writes its
// response, and only then reads the next, so responses keep request order.
class BrokerService::PublishStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  PublishStreamReactor(BrokerService* service, const grpc::CallbackServerContext* context)
      : service_(service) {
    absl::StatusOr<std::string> publisher = service_->Authorize(context);
    if (!publisher.ok()) {
      End(ToGrpcStatus(publisher.status()));
      return;
    }
    publisher_ = *std::move(publisher);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed, or the call ended
      End(grpc::Status::OK);
      return;
    }
    response_.Clear();
    absl::Status status = service_->PublishBytes(publisher_, request_, &response_);
    if (!status.ok()) {
      End(ToGrpcStatus(absl::Status(
          status.code(), absl::StrCat("request #", index_, " of the stream: ", status.message()))));
      return;
    }
    ++index_;
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped reading"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void End(grpc::Status status) {
    service_->RecordCall("PublishStream", status);
    Finish(std::move(status));
  }

  BrokerService* const service_;
  std::string publisher_;  // the API key's id
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  uint64_t index_ = 0;
};

BrokerService::BrokerService(Broker* broker, uint32_t default_retry_ms, Logger* logger,
                             const ClientAuthenticator* auth, const ApiKeys* api_keys,
                             RateLimit publish_rate, size_t max_metadata_bytes)
    : broker_(broker),
      default_retry_ms_(default_retry_ms),
      max_metadata_bytes_(max_metadata_bytes),
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

absl::Status BrokerService::PublishBytes(const std::string& publisher,
                                         const grpc::ByteBuffer& request_bytes,
                                         grpc::ByteBuffer* response_bytes) {
  RETURN_IF_ERROR(publish_rate_.Take(publisher, 1, absl::Now()));
  internal::PublishRequestWire request;
  grpc::ByteBuffer input(request_bytes);  // Deserialize consumes its buffer
  if (!grpc::SerializationTraits<internal::PublishRequestWire>::Deserialize(&input, &request)
           .ok()) {
    return absl::InvalidArgumentError(
        "the request is not a well-formed pushbroker.v1.PublishRequest");
  }
  ASSIGN_OR_RETURN(PublishRequest core_request, ToCore(request));
  ASSIGN_OR_RETURN(PublishResult result, broker_->Publish(std::move(core_request)));
  v1::PublishResponse response;
  response.set_id(result.id);
  response.set_mailboxes(result.mailboxes);
  response.set_streams(result.streams);
  response.set_duplicate(result.duplicate);
  for (const auto& [client_id, id] : result.recipients) {
    v1::Recipient* recipient = response.add_recipients();
    recipient->set_client_id(client_id);
    recipient->set_id(id);
  }
  bool own_buffer = false;
  if (!grpc::SerializationTraits<v1::PublishResponse>::Serialize(response, response_bytes,
                                                                 &own_buffer)
           .ok()) {
    return absl::InternalError("cannot serialize the response");
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* BrokerService::Publish(grpc::CallbackServerContext* context,
                                                 const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response) {
  return Unary(context, "Publish", [&](const std::string& publisher) {
    return PublishBytes(publisher, *request, response);
  });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* BrokerService::PublishStream(
    grpc::CallbackServerContext* context) {
  return new PublishStreamReactor(this, context);
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
