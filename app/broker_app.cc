#include "app/broker_app.h"

#include <algorithm>
#include <random>

#include "absl/random/random.h"
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

void BrokerApp::DrainStreams(absl::Duration spread, absl::Time deadline) {
  std::vector<std::shared_ptr<StreamSink>> streams = broker_->LiveStreams();
  absl::BitGen random;
  std::shuffle(streams.begin(), streams.end(), random);
  const absl::Time start = absl::Now();
  const absl::Time end = std::min(start + spread, deadline);
  const uint32_t retry_ms = options_.http.retry_ms;
  for (size_t i = 0; i < streams.size(); ++i) {
    // Stream i closes at its share of the spread; waits are skipped when
    // the deadline is near.
    const absl::Time due = start + (end - start) * (static_cast<double>(i) / streams.size());
    if (due > absl::Now()) absl::SleepFor(due - absl::Now());
    // Jitter: reconnects land between retry_ms and twice that.
    const uint32_t jittered = retry_ms + absl::Uniform<uint32_t>(random, 0, retry_ms + 1);
    streams[i]->Close(CloseCause::kShutdown, jittered);
  }
}

void BrokerApp::Shutdown() {
  {
    absl::MutexLock lock(&mu_);  // readiness turns false here
    if (stopping_) return;
    stopping_ = true;
  }
  const absl::Time deadline = absl::Now() + options_.shutdown_grace;
  if (janitor_.joinable()) janitor_.join();
  grpc_->SetServing(false);
  http_->BeginDrain();
  // Publishes are still accepted and reach the streams not yet closed.
  DrainStreams(options_.drain_spread, deadline - absl::Seconds(1));
  http_->Stop();
  grpc_->Shutdown(std::max(absl::ZeroDuration(), deadline - absl::Now()));
  admin_->Stop();
}

}  // namespace pushbroker
