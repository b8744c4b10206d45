// BrokerService: pushbroker.v1.Broker over the core Broker, on gRPC's
// callback API. The only place that maps absl::Status to grpc::Status.
#ifndef PUSH_BROKER_GRPC_API_BROKER_SERVICE_H_
#define PUSH_BROKER_GRPC_API_BROKER_SERVICE_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "auth/api_keys.h"
#include "auth/client_authenticator.h"
#include "broker/broker.h"
#include "broker/rate_limiter.h"
#include "grpc_api/call_stats.h"
#include "grpc_api/publish_wire.pb.h"
#include "grpcpp/grpcpp.h"
#include "logging/logger.h"
#include "pushbroker/v1/broker.grpc.pb.h"

namespace pushbroker {

grpc::Status ToGrpcStatus(const absl::Status& status);

// How much one publishing call may carry or have in flight.
struct PublishCallLimits {
  size_t max_batch_size = 1000;  // requests in one PublishBatch
  // PublishStream requests read ahead of their answers: published, and
  // answered in order as the client reads.
  size_t stream_window = 128;
};

// The callback service, with Publish and PublishStream taking raw bytes so
// that they parse requests as internal::PublishRequestWire (see
// publish_wire.proto for why).
using BrokerServiceBase =
    v1::Broker::WithRawCallbackMethod_Publish<v1::Broker::WithRawCallbackMethod_PublishStream<
        v1::Broker::WithRawCallbackMethod_PublishBatch<v1::Broker::WithCallbackMethod_Subscribe<
            v1::Broker::WithCallbackMethod_Unsubscribe<v1::Broker::WithCallbackMethod_GetClient<
                v1::Broker::WithCallbackMethod_History<v1::Broker::WithCallbackMethod_Disconnect<
                    v1::Broker::WithCallbackMethod_DeleteClient<
                        v1::Broker::WithCallbackMethod_IssueClientToken<
                            v1::Broker::WithCallbackMethod_Watch<v1::Broker::Service>>>>>>>>>>>;

// Safe for concurrent access from multiple threads. `broker` must outlive it.
class BrokerService final : public BrokerServiceBase {
 public:
  // `default_retry_ms` is advised by Disconnect when the request names none.
  // `logger`, `auth` and `api_keys` must outlive the service; `auth` may be
  // null (no client tokens), `api_keys` null (no publisher credentials).
  // `publish_rate` applies per API key (to all callers together when no
  // keys are required).
  BrokerService(Broker* broker, uint32_t default_retry_ms, Logger* logger,
                const ClientAuthenticator* auth, const ApiKeys* api_keys,
                RateLimit publish_rate = {}, size_t max_metadata_bytes = 64 * 1024,
                PublishCallLimits publish_limits = {});

  const CallStats& call_stats() const { return call_stats_; }

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PublishStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* PublishBatch(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Subscribe(grpc::CallbackServerContext* context,
                                      const v1::SubscribeRequest* request,
                                      v1::SubscribeResponse* response) override;
  grpc::ServerUnaryReactor* Unsubscribe(grpc::CallbackServerContext* context,
                                        const v1::UnsubscribeRequest* request,
                                        v1::UnsubscribeResponse* response) override;
  grpc::ServerUnaryReactor* GetClient(grpc::CallbackServerContext* context,
                                      const v1::GetClientRequest* request,
                                      v1::ClientInfo* response) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const v1::HistoryRequest* request,
                                    v1::HistoryResponse* response) override;
  grpc::ServerUnaryReactor* Disconnect(grpc::CallbackServerContext* context,
                                       const v1::DisconnectRequest* request,
                                       v1::DisconnectResponse* response) override;
  grpc::ServerUnaryReactor* DeleteClient(grpc::CallbackServerContext* context,
                                         const v1::DeleteClientRequest* request,
                                         v1::DeleteClientResponse* response) override;
  grpc::ServerBidiReactor<v1::WatchRequest, v1::BrokerEvent>* Watch(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* IssueClientToken(grpc::CallbackServerContext* context,
                                             const v1::IssueClientTokenRequest* request,
                                             v1::IssueClientTokenResponse* response) override;

 private:
  // PublishStream's reactor: reads ahead up to the window, answers in order.
  class PublishStreamReactor;
  // A PublishBatch whose requests wait for receipts.
  class BatchJoin;
  // Watch's reactor: writes the hub's events as the client reads them.
  class WatchReactor;

  // The calling publisher's key id ("" when no key is required), or
  // UNAUTHENTICATED when the call carries no accepted API key, or
  // RESOURCE_EXHAUSTED when its metadata is over max_metadata_bytes.
  absl::StatusOr<std::string> Authorize(const grpc::CallbackServerContext* context) const;
  // Counts (and logs, when it failed) a finished call.
  void RecordCall(absl::string_view method, const grpc::Status& status);
  // Every unary method: authorize, run `run(publisher)` (an absl::Status),
  // count, and finish the call with the result.
  template <typename Run>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context, absl::string_view method,
                                  Run run);
  // A unary call whose answer may come later, from another thread:
  // authorize, then `run(publisher, finish)`; `finish` counts and ends it.
  template <typename Run>
  grpc::ServerUnaryReactor* UnaryWithFinish(grpc::CallbackServerContext* context,
                                            absl::string_view method, Run run);
  struct ParsedPublish {
    PublishRequest request;
    PublishWait wait;  // without its callback
  };
  // Counts the call against `publisher`'s rate and reads the request.
  absl::StatusOr<ParsedPublish> ParsePublish(const std::string& publisher,
                                             const grpc::ByteBuffer& request);
  // Reads one request as parsed off the wire (its texts move out of it).
  static absl::StatusOr<ParsedPublish> ParseWire(internal::PublishRequestWire& request);
  static void ToResponse(const PublishResult& result, v1::PublishResponse* response);
  // One publish from request bytes to response bytes, as Publish and
  // PublishStream both do it. `finish` runs once `response` is filled (or
  // with the error): at once, or later on another thread when the request
  // waits for receipts.
  void PublishBytes(const std::string& publisher, const grpc::ByteBuffer& request,
                    grpc::ByteBuffer* response, std::function<void(absl::Status)> finish);
  // PublishBatch from request bytes to response bytes; `finish` as above.
  void PublishBatchBytes(const std::string& publisher, const grpc::ByteBuffer& request,
                         grpc::ByteBuffer* response, std::function<void(absl::Status)> finish);
  absl::Status FillClientInfo(const std::string& client_id, v1::ClientInfo* response);
  absl::Status FillHistory(const v1::HistoryRequest& request, v1::HistoryResponse* response);
  absl::Status IssueToken(const v1::IssueClientTokenRequest& request,
                          v1::IssueClientTokenResponse* response);

  Broker* const broker_;
  const uint32_t default_retry_ms_;
  const size_t max_metadata_bytes_;
  const PublishCallLimits publish_limits_;
  CallStats call_stats_;
  Logger* const logger_;
  const ClientAuthenticator* const auth_;
  const ApiKeys* const api_keys_;
  RateLimiter publish_rate_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_GRPC_API_BROKER_SERVICE_H_
