#include "app/broker_app.h"

#include "app/broker_metrics.h"
#include "broker/memory_mailbox_store.h"
#include "broker/status_macros.h"

namespace pushbroker {

BrokerApp::BrokerApp(AppOptions options) : options_(std::move(options)) {
  store_ = std::make_unique<MemoryMailboxStore>(options_.retention);
  broker_ = std::make_unique<Broker>(options_.broker, store_.get(), &clock_);
  grpc_ = std::make_unique<GrpcServer>(options_.grpc, broker_.get());
  http_ = std::make_unique<HttpEdge>(options_.http, broker_.get());
  RegisterBrokerMetrics(metrics_, *broker_, *store_, *http_, *grpc_);
  admin_ = std::make_unique<AdminServer>(
      options_.admin,
      [this] {
        absl::MutexLock lock(&mu_);
        return ready_ && !stopping_;
      },
      [this] { return metrics_.Render(); });
}

absl::StatusOr<std::unique_ptr<BrokerApp>> BrokerApp::Start(AppOptions options) {
  std::unique_ptr<BrokerApp> app(new BrokerApp(std::move(options)));
  RETURN_IF_ERROR(app->admin_->Start());
  RETURN_IF_ERROR(app->grpc_->Start());
  RETURN_IF_ERROR(app->http_->Start());
  app->janitor_ = std::thread([raw = app.get()] { raw->JanitorLoop(); });
  {
    absl::MutexLock lock(&app->mu_);
    app->ready_ = true;
  }
  return app;
}

BrokerApp::~BrokerApp() { Shutdown(); }

void BrokerApp::JanitorLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.sweep_interval)) break;
    mu_.Unlock();
    broker_->Sweep();
    mu_.Lock();
  }
}

void BrokerApp::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (janitor_.joinable()) janitor_.join();
  grpc_->SetServing(false);
  // Streams get a retry advice so browsers come back once the broker (or
  // another replica) is up; the loop then ends them.
  broker_->CloseAllStreams(options_.http.retry_ms);
  http_->Stop();
  grpc_->Shutdown(options_.shutdown_grace);
  admin_->Stop();
}

}  // namespace pushbroker
