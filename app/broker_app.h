// BrokerApp: the composition root. Builds the store, the core and the three
// listeners (gRPC, HTTP edge, admin) from one options struct, runs the
// janitor, and tears everything down in order. main() and the integration
// tests both start the broker through it.
#ifndef PUSH_BROKER_APP_BROKER_APP_H_
#define PUSH_BROKER_APP_BROKER_APP_H_

#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "admin/admin_server.h"
#include "auth/api_keys.h"
#include "auth/client_authenticator.h"
#include "broker/broker.h"
#include "broker/clock.h"
#include "broker/mailbox_store.h"
#include "grpc_api/grpc_server.h"
#include "http_edge/http_edge.h"
#include "logging/logger.h"
#include "metrics/metrics_registry.h"
#include "redis/event_relay.h"
#include "redis/redis_mailbox_store.h"

namespace pushbroker {

struct AppOptions {
  RetentionPolicy retention;
  StoreLimits store_limits;
  BrokerOptions broker;
  GrpcServerOptions grpc;
  HttpEdgeOptions http;
  AdminServerOptions admin;
  absl::Duration sweep_interval = absl::Seconds(30);
  // On shutdown, streams are closed at random moments over this time, each
  // with a jittered retry advice, so browsers do not all return at once.
  absl::Duration drain_spread = absl::Seconds(5);
  // Everything, drain included, ends within this time of the shutdown.
  absl::Duration shutdown_grace = absl::Seconds(10);
  LogLevel log_level = LogLevel::kInfo;
  ClientAuthOptions client_auth;   // secret_file empty: clients are not authenticated
  std::string api_keys_file;       // empty: publishers need no API key
  std::string store = "memory";    // or "redis"
  redis::RedisStoreOptions redis;  // with store "redis"
};

// A name for this process when the operator gives none: the host name
// (a pod's name) and a random suffix.
std::string DefaultReplicaId();

// Start() and Shutdown() are for one owning thread; accessors are safe from
// any thread while the app runs.
class BrokerApp {
 public:
  static absl::StatusOr<std::unique_ptr<BrokerApp>> Start(AppOptions options);
  BrokerApp(const BrokerApp&) = delete;
  BrokerApp& operator=(const BrokerApp&) = delete;
  ~BrokerApp();

  // The graceful drain: readiness and gRPC health go down, new streams are
  // refused with 503, open streams are closed with a jittered retry advice
  // spread over drain_spread while publishes are still accepted, then
  // in-flight gRPC calls finish; all within shutdown_grace. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // False once the HTTP or admin listener has failed for good: readiness is
  // then false, and main() drains and exits non-zero.
  bool ListenersHealthy() const;

  // Re-reads the client token secrets and the API keys (SIGHUP). On error
  // the old ones stay.
  absl::Status ReloadSecrets();

  int grpc_port() const { return grpc_->port(); }
  int http_port() const { return http_->port(); }
  int admin_port() const { return admin_->port(); }
  Broker& broker() { return *broker_; }
  HttpEdge& http_edge() { return *http_; }

 private:
  BrokerApp(AppOptions options, std::unique_ptr<Logger> logger, std::unique_ptr<MailboxStore> store,
            std::unique_ptr<ClientAuthenticator> auth, std::unique_ptr<ApiKeys> api_keys);
  // The store the options name: memory, or Redis (connecting in the
  // background).
  static absl::StatusOr<std::unique_ptr<MailboxStore>> MakeStore(const AppOptions& options,
                                                                 Logger* logger);
  // Waits up to --redis_io_timeout for the Redis store to connect and
  // subscribe, and logs the outcome; serves either way.
  void AwaitRedis();
  // The secrets files in force (client token secrets, API keys).
  std::vector<SecretsFile*> SecretsFiles();
  void JanitorLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Every 50 ms: offline events, receipt deadlines, event redelivery.
  void EventsLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the live streams spread over `spread`, ending by `deadline`.
  void DrainStreams(absl::Duration spread, absl::Time deadline);

  const AppOptions options_;
  const std::unique_ptr<Logger> logger_;
  SystemClock clock_;
  std::unique_ptr<ClientAuthenticator> auth_;
  std::unique_ptr<ApiKeys> api_keys_;
  std::unique_ptr<MailboxStore> store_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<redis::RedisEventRelay> relay_;  // with store "redis"
  std::unique_ptr<GrpcServer> grpc_;
  std::unique_ptr<HttpEdge> http_;
  MetricsRegistry metrics_;
  std::unique_ptr<AdminServer> admin_;
  std::thread janitor_;
  std::thread events_ticker_;

  absl::Mutex mu_;
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_APP_BROKER_APP_H_
