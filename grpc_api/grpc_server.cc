#include "grpc_api/grpc_server.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"

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

}  // namespace

GrpcServer::GrpcServer(GrpcServerOptions options, Broker* broker, Logger* logger,
                       const ClientAuthenticator* auth, const ApiKeys* api_keys)
    : options_(std::move(options)), service_(broker, options_.default_retry_ms, logger, auth, api_keys) {}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

absl::Status GrpcServer::Start() {
  grpc::EnableDefaultHealthCheckService(true);
  if (options_.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!options_.reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  const std::string address = absl::StrCat(
      options_.bind_address.find(':') != std::string::npos ? absl::StrCat("[", options_.bind_address, "]")
                                                          : options_.bind_address,
      ":", options_.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_receive_message_bytes));
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
