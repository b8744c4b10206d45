#include "app/broker_app.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "app/broker_metrics.h"
#include "broker/memory_mailbox_store.h"
#include "broker/status_macros.h"

namespace pushbroker {

std::string DefaultReplicaId() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::strcpy(host, "broker");
  std::string name;
  for (const char* c = host; *c != '\0'; ++c) {
    name.push_back(absl::ascii_isalnum(static_cast<unsigned char>(*c)) || *c == '-' ? *c : '-');
  }
  absl::BitGen random;
  return absl::StrCat(name.substr(0, 100), "-",
                      absl::Hex(absl::Uniform<uint32_t>(random), absl::kZeroPad8));
}

namespace {

// The effective configuration, for the start line. Holds no secrets.
nlohmann::ordered_json ConfigOf(const AppOptions& o) {
  return {{"store", o.store},
          {"redis_addrs", o.store == "redis" ? o.redis.address : ""},
          {"redis_fence", o.redis.fence},
          {"redis_io_timeout_s", absl::ToDoubleSeconds(o.redis.io_timeout)},
          {"replica_id", o.redis.replica_id},
          {"bind_address", o.http.bind_address},
          {"mailbox_max_messages", o.retention.max_messages},
          {"mailbox_ttl_s", absl::ToDoubleSeconds(o.retention.ttl)},
          {"mailbox_max_bytes", o.retention.max_bytes},
          {"mailbox_memory_budget_bytes", o.retention.memory_budget_bytes},
          {"max_mailboxes", o.store_limits.max_mailboxes},
          {"max_topics_per_client", o.store_limits.max_topics_per_client},
          {"max_streams_per_client", o.broker.max_streams_per_client},
          {"publish_rate_per_key", o.grpc.publish_rate.per_second},
          {"publish_burst_per_key", o.grpc.publish_rate.burst},
          {"max_message_bytes", o.broker.limits.max_message_bytes},
          {"max_client_id_bytes", o.broker.limits.max_client_id_bytes},
          {"max_event_bytes", o.broker.limits.max_event_bytes},
          {"max_publish_targets", o.broker.max_publish_targets},
          {"idempotency_window_s", absl::ToDoubleSeconds(o.broker.idempotency_window)},
          {"heartbeat_ms", absl::ToInt64Milliseconds(o.http.heartbeat_interval)},
          {"retry_ms", o.http.retry_ms},
          {"cors_origins", o.http.cors_origins},
          {"max_connections", o.http.max_connections},
          {"max_stream_queue_bytes", o.http.max_stream_queue_bytes},
          {"stream_queue_budget_bytes", o.http.stream_queue_budget_bytes},
          {"stream_socket_buffer_bytes", o.http.stream_socket_buffer_bytes},
          {"max_request_body_bytes", o.http.max_request_body_bytes},
          {"http_body_timeout_s", absl::ToDoubleSeconds(o.http.body_timeout)},
          {"grpc_max_metadata_bytes", o.grpc.max_metadata_bytes},
          {"grpc_max_receive_message_bytes", o.grpc.max_receive_message_bytes},
          {"max_batch_size", o.grpc.publish_limits.max_batch_size},
          {"publish_stream_window", o.grpc.publish_limits.stream_window},
          {"max_http_threads", o.http.max_http_threads},
          {"sse_loops", o.http.sse_loops},
          {"max_request_head_bytes", o.http.max_request_head_bytes},
          {"max_request_line_bytes", o.http.max_request_line_bytes},
          {"http_head_timeout_s", absl::ToDoubleSeconds(o.http.head_timeout)},
          {"max_pending_connections", o.http.max_pending_connections},
          {"poll_max_timeout_s", absl::ToDoubleSeconds(o.http.poll_max_timeout)},
          {"drain_spread_s", absl::ToDoubleSeconds(o.drain_spread)},
          {"client_tokens", !o.client_auth.secret_file.empty()},  // never a secret itself
          {"api_keys", !o.api_keys_file.empty()},
          {"reflection", o.grpc.reflection},
          {"grpc_tls", !o.grpc.tls_cert.empty()},
          {"grpc_mtls", !o.grpc.tls_client_ca.empty()},
          {"shutdown_grace_s", absl::ToDoubleSeconds(o.shutdown_grace)}};
}

}  // namespace

BrokerApp::BrokerApp(AppOptions options, std::unique_ptr<Logger> logger,
                     std::unique_ptr<MailboxStore> store, std::unique_ptr<ClientAuthenticator> auth,
                     std::unique_ptr<ApiKeys> api_keys)
    : options_(std::move(options)),
      logger_(std::move(logger)),
      auth_(std::move(auth)),
      api_keys_(std::move(api_keys)),
      store_(std::move(store)) {
  broker_ = std::make_unique<Broker>(options_.broker, store_.get(), &clock_);
  if (options_.store == "redis") {
    // Watch events cross replicas through Redis; started once serving.
    auto* redis_store = static_cast<redis::RedisMailboxStore*>(store_.get());
    Broker* broker = broker_.get();
    redis::EventRelayOptions relay_options;
    relay_options.replica = options_.broker.replica;
    relay_options.max_len = options_.broker.watch.retention_count;
    relay_options.ack_timeout = options_.broker.watch.ack_timeout;
    WatchHub* hub = &broker->events();
    relay_ = std::make_unique<redis::RedisEventRelay>(
        relay_options, redis_store->router(), [broker] { return broker->LocalWants(); },
        [broker](BrokerEvent event) { broker->ReceiveRemoteEvent(std::move(event)); },
        redis::RelayGroups{[hub] { return hub->LocalGroups(); },
                           [hub](const std::string& group, BrokerEvent event, std::string id) {
                             return hub->FeedGroup(group, std::move(event), std::move(id));
                           }});
    redis::RedisEventRelay* relay = relay_.get();
    // A group is a Redis consumer group: each event to one member fleet-wide.
    hub->FeedGroupsExternally([relay](const std::string& group, const std::string& entry_id) {
      relay->Ack(group, entry_id);
    });
    broker_->SetEventRelay(
        EventRelayHooks{[relay](const BrokerEvent& event) { relay->Publish(event); },
                        [relay](EventKind kind) { return relay->FleetWants(kind); },
                        [relay] { relay->AdvertiseSoon(); }});
  }
  grpc_ = std::make_unique<GrpcServer>(options_.grpc, broker_.get(), logger_.get(), auth_.get(),
                                       api_keys_.get());
  http_ =
      std::make_unique<HttpEdge>(options_.http, broker_.get(), logger_.get(), auth_.get(), &clock_);
  admin_ = std::make_unique<AdminServer>(
      options_.admin,
      [this] {
        {
          absl::MutexLock lock(&mu_);
          if (!ready_ || stopping_) return false;
        }
        return ListenersHealthy();
      },
      [this] { return metrics_.Render(); }, logger_.get(), &clock_);
  RegisterBrokerMetrics(metrics_, *broker_, *store_, *http_, *grpc_, *admin_);
  if (options_.store == "redis") {
    RegisterRedisMetrics(metrics_, *static_cast<redis::RedisMailboxStore*>(store_.get()));
  }
}

absl::StatusOr<std::unique_ptr<MailboxStore>> BrokerApp::MakeStore(const AppOptions& options,
                                                                   Logger* logger) {
  if (options.store != "redis") {
    return std::make_unique<MemoryMailboxStore>(options.retention, options.store_limits);
  }
  redis::RedisStoreOptions redis = options.redis;
  // A failover or a reshard shows in the log as the masters that serve now.
  redis.on_topology = [logger](bool cluster, const std::vector<std::string>& masters) {
    logger->Info("redis_topology", {{"mode", cluster ? "cluster" : "standalone"},
                                    {"masters", absl::StrJoin(masters, ",")}});
  };
  redis.on_fenced = [logger](uint64_t newly_fenced, uint64_t total) {
    logger->Warn("redis_fence_applied",
                 {{"mailboxes", static_cast<int64_t>(newly_fenced)},
                  {"total", static_cast<int64_t>(total)},
                  {"message",
                   "mailboxes last written by a Redis process that is gone (a failover or a "
                   "restart) took a new epoch: their browsers get a reset, never a silent gap"}});
  };
  ASSIGN_OR_RETURN(
      std::unique_ptr<redis::RedisMailboxStore> store,
      redis::RedisMailboxStore::Start(std::move(redis), options.retention, options.store_limits));
  return store;
}

absl::StatusOr<std::unique_ptr<BrokerApp>> BrokerApp::Start(AppOptions options) {
  if (options.broker.replica.empty()) {
    options.broker.replica =
        options.redis.replica_id.empty() ? DefaultReplicaId() : options.redis.replica_id;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ClientAuthenticator> auth,
                   ClientAuthenticator::Create(options.client_auth));
  ASSIGN_OR_RETURN(std::unique_ptr<ApiKeys> api_keys, ApiKeys::Open(options.api_keys_file));
  std::unique_ptr<Logger> logger = NewStderrJsonLogger(options.log_level);
  ASSIGN_OR_RETURN(std::unique_ptr<MailboxStore> store, MakeStore(options, logger.get()));
  std::unique_ptr<BrokerApp> app(new BrokerApp(std::move(options), std::move(logger),
                                               std::move(store), std::move(auth),
                                               std::move(api_keys)));
  app->logger_->Info("start", ConfigOf(app->options_));
  if (!app->auth_->enabled()) {
    app->logger_->Warn("client_auth_off",
                       {{"message",
                         "no --client_token_secret_file: any page that knows a client id can "
                         "read that client's mailbox"}});
  }
  if (!app->api_keys_->required()) {
    app->logger_->Warn(
        "publisher_auth_off",
        {{"message", "no --api_keys_file: any process that reaches the gRPC port can publish"}});
  }
  if (app->options_.store == "redis") app->AwaitRedis();
  RETURN_IF_ERROR(app->admin_->Start());
  RETURN_IF_ERROR(app->grpc_->Start());
  RETURN_IF_ERROR(app->http_->Start());
  app->janitor_ = std::thread([raw = app.get()] { raw->JanitorLoop(); });
  app->events_ticker_ = std::thread([raw = app.get()] { raw->EventsLoop(); });
  if (app->relay_) app->relay_->Start();
  {
    absl::MutexLock lock(&app->mu_);
    app->ready_ = true;
  }
  // Last, so whoever waits for this line finds every part running.
  app->logger_->Info("listening", {{"grpc_port", app->grpc_port()},
                                   {"http_port", app->http_port()},
                                   {"admin_port", app->admin_port()}});
  return app;
}

void BrokerApp::AwaitRedis() {
  auto* store = static_cast<redis::RedisMailboxStore*>(store_.get());
  const absl::Time deadline = absl::Now() + options_.redis.io_timeout;
  while (!store->up() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  if (store->up()) {
    logger_->Info("redis_connected", {{"redis_addrs", options_.redis.address},
                                      {"mode", store->cluster() ? "cluster" : "standalone"},
                                      {"replica_id", store->replica_id()}});
  } else {
    logger_->Warn("redis_unreachable",
                  {{"redis_addrs", options_.redis.address},
                   {"message",
                    "serving anyway: publishes fail UNAVAILABLE and streams are asked "
                    "to come back until Redis answers"}});
  }
}

BrokerApp::~BrokerApp() {
  Shutdown();
  // In order of use: the listeners call the broker and, through it, the
  // store; the store's threads call the broker's fan-out.
  admin_.reset();
  http_.reset();
  grpc_.reset();
  relay_.reset();  // uses the store's router and calls the broker
  store_.reset();
}

bool BrokerApp::ListenersHealthy() const { return http_->listening() && admin_->listening(); }

std::vector<SecretsFile*> BrokerApp::SecretsFiles() {
  std::vector<SecretsFile*> files;
  for (SecretsFile* file : {auth_->secrets_file(), api_keys_->secrets_file()}) {
    if (file != nullptr) files.push_back(file);
  }
  return files;
}

absl::Status BrokerApp::ReloadSecrets() {
  absl::Status result;
  for (SecretsFile* file : SecretsFiles()) {
    absl::Status reloaded = file->Reload();
    if (reloaded.ok()) {
      logger_->Info("secrets_reloaded", {{"file", file->path()}});
    } else {
      logger_->Error("secrets_reload_failed", {{"message", std::string(reloaded.message())}});
      result.Update(reloaded);
    }
  }
  return result;
}

void BrokerApp::JanitorLoop() {
  // Wakes every 2 s to notice a changed secrets file; sweeps every
  // sweep_interval.
  const absl::Duration tick = std::min(options_.sweep_interval, absl::Seconds(2));
  absl::Time next_sweep = absl::Now() + options_.sweep_interval;
  constexpr absl::Duration kTrimInterval = absl::Seconds(10);
  absl::Time next_trim = absl::Now() + kTrimInterval;
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), tick)) break;
    mu_.Unlock();
    for (SecretsFile* file : SecretsFiles()) {
      absl::StatusOr<bool> changed = file->ReloadIfChanged();
      if (!changed.ok()) {
        logger_->Error("secrets_reload_failed",
                       {{"message", std::string(changed.status().message())}});
      } else if (*changed) {
        logger_->Info("secrets_reloaded", {{"file", file->path()}});
      }
    }
    if (absl::Now() >= next_sweep) {
      broker_->Sweep();
      next_sweep = absl::Now() + options_.sweep_interval;
    }
    if (absl::Now() >= next_trim) {
      // Gives the pages freed by evictions, expiries and cut streams back to
      // the system; glibc keeps them otherwise. A few ms on a large heap.
      malloc_trim(0);
      next_trim = absl::Now() + kTrimInterval;
    }
    mu_.Lock();
  }
}

void BrokerApp::EventsLoop() {
  constexpr absl::Duration kTick = absl::Milliseconds(50);
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), kTick)) break;
    mu_.Unlock();
    broker_->TickEvents();
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
  if (events_ticker_.joinable()) events_ticker_.join();
  grpc_->SetServing(false);
  http_->BeginDrain();
  const absl::Time drain_start = absl::Now();
  logger_->Info("drain_started", {{"streams", http_->open_streams()},
                                  {"spread_s", absl::ToDoubleSeconds(options_.drain_spread)}});
  // Publishes are still accepted and reach the streams not yet closed.
  DrainStreams(options_.drain_spread, deadline - absl::Seconds(1));
  http_->Stop();
  // Publishes still waiting for receipts answer now with what they have.
  broker_->EndWaits();
  grpc_->Shutdown(std::max(absl::ZeroDuration(), deadline - absl::Now()));
  admin_->Stop();
  logger_->Info("stopped", {{"drain_s", absl::ToDoubleSeconds(absl::Now() - drain_start)}});
}

}  // namespace pushbroker
