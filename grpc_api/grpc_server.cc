#include "grpc_api/grpc_server.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace pushbroker {
namespace {

constexpr char kServiceName[] = "pushbroker.v1.Broker";

// Linking grpc++_reflection registers its plugin for every ServerBuilder of
// the process (a static initializer); this option takes it out again.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const auto& plugin) {
                                    return plugin->name().find("reflection") != std::string::npos;
                                  }),
                   plugins->end());
  }
};

// How often the TLS files are checked for changes.
constexpr unsigned int kTlsRefreshSeconds = 10;

// A readable PEM file holding `marker`, or an error naming the file.
absl::Status CheckPem(const std::string& path, const char* what, const char* marker) {
  std::ifstream file(path);
  if (!file) return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path));
  std::stringstream text;
  text << file.rdbuf();
  if (text.str().find(marker) == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, " holds no ", marker));
  }
  return absl::OkStatus();
}

// The server's credentials from the options: insecure, TLS, or mutual TLS.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> CredentialsFor(
    const GrpcServerOptions& o) {
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    return absl::InvalidArgumentError("TLS needs both --grpc_tls_cert and --grpc_tls_key");
  }
  if (o.tls_cert.empty()) {
    if (!o.tls_client_ca.empty()) {
      return absl::InvalidArgumentError(
          "--grpc_tls_client_ca needs --grpc_tls_cert and --grpc_tls_key");
    }
    return grpc::InsecureServerCredentials();
  }
  for (const absl::Status& status :
       {CheckPem(o.tls_cert, "--grpc_tls_cert", "CERTIFICATE"),
        CheckPem(o.tls_key, "--grpc_tls_key", "PRIVATE KEY"),
        o.tls_client_ca.empty()
            ? absl::OkStatus()
            : CheckPem(o.tls_client_ca, "--grpc_tls_client_ca", "CERTIFICATE")}) {
    if (!status.ok()) return status;
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      o.tls_key, o.tls_cert, o.tls_client_ca, kTlsRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (!o.tls_client_ca.empty()) {
    tls.watch_root_certs();
    tls.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

constexpr size_t kTransportMetadataFactor = 8;

}  // namespace

GrpcServer::GrpcServer(GrpcServerOptions options, Broker* broker, Logger* logger,
                       const ClientAuthenticator* auth, const ApiKeys* api_keys)
    : options_(std::move(options)),
      service_(broker, options_.default_retry_ms, logger, auth, api_keys, options_.publish_rate,
               options_.max_metadata_bytes, options_.publish_limits) {}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

absl::Status GrpcServer::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  // Registers health.proto in the generated pool, where reflection looks
  // for the symbols it is asked about (grpcurl describes a method before
  // it calls it). Referencing it also keeps the linker from dropping it.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  if (options_.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!options_.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  const std::string address = absl::StrCat(options_.bind_address.find(':') != std::string::npos
                                               ? absl::StrCat("[", options_.bind_address, "]")
                                               : options_.bind_address,
                                           ":", options_.port);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = CredentialsFor(options_);
  if (!credentials.ok()) return credentials.status();
  builder.AddListeningPort(address, *credentials, &port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_receive_message_bytes));
  // The transport's own limit sits well above ours: a call between the two
  // is refused alone, with a clear status, by the service. Past the
  // transport's, gRPC 1.51 ends the whole HTTP/2 connection.
  // Each stream's flow-control window stays at its initial 64 KiB instead
  // of growing with gRPC's bandwidth probe: publishers sit next to the
  // broker, and a probed window lets a flood of large publishes park tens of
  // megabytes in the transport, outside every budget.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_METADATA_SIZE,
      static_cast<int>(kTransportMetadataFactor * options_.max_metadata_bytes));
  // No SO_REUSEPORT: a second broker on this port must fail, not share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ <= 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", address));
  }
  SetServing(true);
  return absl::OkStatus();
}

void GrpcServer::SetServing(bool serving) {
  if (server_ == nullptr) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);
  health->SetServingStatus(kServiceName, serving);
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  SetServing(false);
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(absl::ToInt64Milliseconds(grace)));
  server_->Wait();
  server_.reset();
}

}  // namespace pushbroker
