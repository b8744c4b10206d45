// GrpcServer: the gRPC listener: pushbroker.v1.Broker, grpc.health.v1.Health
// and server reflection (what grpcurl uses).
#ifndef PUSH_BROKER_GRPC_API_GRPC_SERVER_H_
#define PUSH_BROKER_GRPC_API_GRPC_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "broker/broker.h"
#include "grpc_api/broker_service.h"
#include "logging/logger.h"

namespace pushbroker {

struct GrpcServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 50051;  // 0 picks a free port
  uint32_t default_retry_ms = 3000;
  size_t max_receive_message_bytes = 4 << 20;
  // The request metadata (headers) one call may carry. gRPC's default, 8 KiB,
  // refuses ordinary tracing headers and long tokens.
  size_t max_metadata_bytes = 64 * 1024;
  bool reflection = true;  // server reflection (what grpcurl uses)
  // TLS: PEM files, re-read when they change. Cert and key together turn TLS
  // on; a client CA also requires and verifies client certificates (mTLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  RateLimit publish_rate;  // per API key; unlimited by default
  PublishCallLimits publish_limits;
};

// Start() and Shutdown() are for one owning thread. `broker` must outlive it.
class GrpcServer {
 public:
  // `logger`, `auth` (null: no client tokens) and `api_keys` (null: open)
  // must outlive the server.
  GrpcServer(GrpcServerOptions options, Broker* broker, Logger* logger,
             const ClientAuthenticator* auth, const ApiKeys* api_keys);
  ~GrpcServer();

  absl::Status Start();
  // Lets in-flight calls finish until `deadline`, then cancels the rest.
  void Shutdown(absl::Duration grace);
  // Health for the Broker service and the whole server ("").
  void SetServing(bool serving);
  int port() const { return port_; }
  const CallStats& call_stats() const { return service_.call_stats(); }

 private:
  const GrpcServerOptions options_;
  BrokerService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = -1;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_GRPC_API_GRPC_SERVER_H_
