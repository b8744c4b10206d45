#include "app/broker_metrics.h"

#include "metrics/process_metrics.h"

namespace pushbroker {
namespace {

using Samples = std::vector<MetricSample>;

double Load(const std::atomic<uint64_t>& counter) {
  return static_cast<double>(counter.load(std::memory_order_relaxed));
}

// A counter family with one sample per target kind.
MetricsRegistry::Collector ByTarget(
    const std::array<std::atomic<uint64_t>, kTargetKinds>& counters) {
  return [&counters](Samples& samples) {
    for (size_t i = 0; i < kTargetKinds; ++i) {
      samples.push_back(MetricSample{"", {{"target", TargetName(i)}}, Load(counters[i])});
    }
  };
}

// The core's counters: presence, publishes, deliveries, replays, resets.
void RegisterCoreMetrics(MetricsRegistry& registry, Broker& broker) {
  const BrokerStats& core = broker.stats();
  WatchHub& events = broker.events();
  registry.AddValue("pushbroker_watchers", "Open Watch calls.", MetricType::kGauge,
                    [&events] { return static_cast<double>(events.watchers()); });
  registry.AddValue("pushbroker_events_total", "Events added to the Watch log.",
                    MetricType::kCounter,
                    [&events] { return static_cast<double>(events.emitted()); });
  registry.AddValue("pushbroker_events_redelivered_total",
                    "Grouped events handed to another member (unconfirmed in time, or the "
                    "watcher went away).",
                    MetricType::kCounter,
                    [&events] { return static_cast<double>(events.redelivered()); });
  registry.AddValue("pushbroker_watchers_cut_total",
                    "Watchers cut for falling --watch_queue_bytes behind.", MetricType::kCounter,
                    [&events] { return static_cast<double>(events.watchers_cut()); });
  registry.AddValue("pushbroker_publishes_waiting", "Publishes waiting for receipts.",
                    MetricType::kGauge,
                    [&broker] { return static_cast<double>(broker.receipts().waiting()); });
  registry.AddValue("pushbroker_tracked_clients",
                    "Clients with presence state here (live streams or a last-seen time).",
                    MetricType::kGauge,
                    [&broker] { return static_cast<double>(broker.TrackedClients()); });
  registry.Add("pushbroker_publishes_total", "Accepted publish requests, by target kind.",
               MetricType::kCounter, ByTarget(core.publishes));
  registry.Add("pushbroker_messages_published_total",
               "Messages appended to mailboxes, by the target kind of their publish.",
               MetricType::kCounter, ByTarget(core.appended));
  registry.Add("pushbroker_messages_delivered_total",
               "Messages handed to live streams, by the target kind of their publish.",
               MetricType::kCounter, ByTarget(core.delivered));
  registry.AddValue("pushbroker_streams_opened_total", "Streams and polls opened.",
                    MetricType::kCounter, [&core] { return Load(core.streams_opened); });
  registry.AddValue("pushbroker_replays_total",
                    "Streams and polls that resumed after a Last-Event-ID or cursor.",
                    MetricType::kCounter, [&core] { return Load(core.replays); });
  registry.Add("pushbroker_resets_total", "Resumptions that could not continue exactly, by reason.",
               MetricType::kCounter, [&core](Samples& samples) {
                 for (size_t i = 0; i < kResetReasons; ++i) {
                   samples.push_back(MetricSample{
                       "",
                       {{"reason", std::string(ResetReasonName(static_cast<ResetReason>(i)))}},
                       Load(core.resets[i])});
                 }
               });
}

// What the mailboxes hold and what they dropped.
void RegisterStoreMetrics(MetricsRegistry& registry, MailboxStore& store) {
  registry.AddValue("pushbroker_mailboxes", "Client mailboxes held.", MetricType::kGauge,
                    [&store] { return static_cast<double>(store.Stats().mailboxes); });
  registry.AddValue("pushbroker_mailbox_messages", "Messages retained across all mailboxes.",
                    MetricType::kGauge,
                    [&store] { return static_cast<double>(store.Stats().messages); });
  registry.AddValue(
      "pushbroker_mailbox_bytes",
      "Bytes retained across all mailboxes, as --mailbox_memory_budget_bytes counts them.",
      MetricType::kGauge, [&store] { return static_cast<double>(store.Stats().bytes); });
  registry.Add(
      "pushbroker_messages_dropped_total",
      "Messages dropped from mailboxes: capacity (past --mailbox_max_messages), size (past "
      "--mailbox_max_bytes), budget (past --mailbox_memory_budget_bytes), or expired.",
      MetricType::kCounter, [&store](Samples& samples) {
        const StoreStats stats = store.Stats();
        samples.push_back(MetricSample{
            "", {{"reason", "capacity"}}, static_cast<double>(stats.evicted_capacity)});
        samples.push_back(
            MetricSample{"", {{"reason", "size"}}, static_cast<double>(stats.evicted_size)});
        samples.push_back(
            MetricSample{"", {{"reason", "budget"}}, static_cast<double>(stats.evicted_budget)});
        samples.push_back(
            MetricSample{"", {{"reason", "expired"}}, static_cast<double>(stats.expired)});
      });
}

// The SSE streams and long-polls of the HTTP edge.
void RegisterStreamMetrics(MetricsRegistry& registry, const HttpEdge& http) {
  const EdgeStats& edge = http.stats();
  registry.AddValue("pushbroker_live_streams", "Open SSE streams and waiting long-polls.",
                    MetricType::kGauge,
                    [&http] { return static_cast<double>(http.open_streams()); });
  registry.AddValue("pushbroker_stream_queue_bytes",
                    "Bytes all SSE streams hold unsent, against --stream_queue_budget_bytes.",
                    MetricType::kGauge,
                    [&http] { return static_cast<double>(http.stream_queue_bytes()); });
  registry.Add(
      "pushbroker_stream_closes_total", "Streams that ended, by reason.", MetricType::kCounter,
      [&edge](Samples& samples) {
        for (size_t i = 0; i < kStreamEndCount; ++i) {
          const StreamEnd end = static_cast<StreamEnd>(i);
          samples.push_back(MetricSample{
              "", {{"reason", std::string(StreamEndName(end))}}, Load(edge.stream_ends[i])});
        }
      });
  registry.AddValue(
      "pushbroker_slow_consumer_disconnects_total",
      "Streams cut because their peer did not keep up.", MetricType::kCounter,
      [&edge] { return Load(edge.stream_ends[static_cast<size_t>(StreamEnd::kSlowConsumer)]); });
  registry.AddValue("pushbroker_polls_total", "Long-poll requests admitted.", MetricType::kCounter,
                    [&edge] { return Load(edge.polls); });
  registry.AddValue("pushbroker_polls_abandoned_total",
                    "Long-polls whose client went away while they waited.", MetricType::kCounter,
                    [&edge] { return Load(edge.polls_abandoned); });
  registry.AddValue("pushbroker_streams_deferred_total",
                    "SSE streams answered with a retry advice because the store was unreachable.",
                    MetricType::kCounter, [&edge] { return Load(edge.streams_deferred); });
  registry.AddValue("pushbroker_connections_refused_total",
                    "Streams and polls refused over --max_connections.", MetricType::kCounter,
                    [&edge] { return Load(edge.refused_over_limit); });
  registry.AddValue("pushbroker_acks_total", "Message ids acknowledged by pages (POST /v1/ack).",
                    MetricType::kCounter, [&edge] { return Load(edge.acks); });
  registry.AddValue("pushbroker_client_messages_total",
                    "Messages pages sent up (POST /v1/messages).", MetricType::kCounter,
                    [&edge] { return Load(edge.client_messages); });
  registry.AddValue("pushbroker_upstream_refused_total",
                    "POSTs from pages refused over --upstream_rate_per_client.",
                    MetricType::kCounter, [&edge] { return Load(edge.upstream_refused); });
  registry.Add("pushbroker_publish_to_write_seconds",
               "Time from a message's publish to its last byte written to a stream's socket.",
               MetricType::kHistogram,
               [&edge](Samples& samples) { edge.publish_to_write.Collect(samples); });
}

// The listeners' defences: the request gate and the accept loops.
void RegisterListenerMetrics(MetricsRegistry& registry, const HttpEdge& http,
                             const AdminServer& admin) {
  const RequestGateStats& gate = http.gate_stats();
  registry.Add(
      "pushbroker_http_requests_refused_total",
      "HTTP connections answered before routing: head timeout (408), head too large "
      "(414/431), or closed past --max_pending_connections.",
      MetricType::kCounter, [&gate](Samples& samples) {
        samples.push_back(MetricSample{"", {{"reason", "head_timeout"}}, Load(gate.head_timeouts)});
        samples.push_back(
            MetricSample{"", {{"reason", "head_too_large"}}, Load(gate.head_too_large)});
        samples.push_back(MetricSample{"", {{"reason", "pending_evicted"}}, Load(gate.evicted)});
      });
  registry.Add(
      "pushbroker_http_requests_refused_body_total",
      "HTTP requests refused in the gate for their body: too large (413), without "
      "Content-Length (411) or a bad one (400); or too slow (408).",
      MetricType::kCounter, [&gate](Samples& samples) {
        samples.push_back(MetricSample{"", {{"reason", "refused"}}, Load(gate.body_refused)});
        samples.push_back(MetricSample{"", {{"reason", "timeout"}}, Load(gate.body_timeouts)});
      });
  registry.Add(
      "pushbroker_accept_errors_total",
      "accept() errors the listeners rode out: out of descriptors or buffers (backed "
      "off), or a connection lost in its handshake (skipped).",
      MetricType::kCounter, [&http, &admin](Samples& samples) {
        for (const auto& [name, stats] :
             {std::pair<const char*, const AcceptStats*>{"http", &http.accept_stats()},
              {"admin", &admin.accept_stats()}}) {
          samples.push_back(MetricSample{
              "", {{"listener", name}, {"kind", "resource"}}, Load(stats->resource_errors)});
          samples.push_back(MetricSample{
              "", {{"listener", name}, {"kind", "connection"}}, Load(stats->connection_errors)});
        }
      });
}

}  // namespace

void RegisterRedisMetrics(MetricsRegistry& registry, const redis::RedisMailboxStore& store) {
  const redis::RedisStoreCounters& c = store.counters();
  const redis::LiveFeedCounters& feed = store.feed_counters();
  registry.AddValue("pushbroker_redis_up",
                    "1 while every master's connection is up and the live feed subscribed.",
                    MetricType::kGauge, [&store] { return store.up() ? 1.0 : 0.0; });
  registry.Add("pushbroker_redis_request_seconds",
               "Time from sending a caller's Redis Function calls to their last reply.",
               MetricType::kHistogram, [&c](Samples& samples) { c.latency.Collect(samples); });
  registry.AddValue("pushbroker_redis_in_flight", "Redis Function calls awaiting replies.",
                    MetricType::kGauge, [&c] { return static_cast<double>(c.in_flight.load()); });
  registry.Add(
      "pushbroker_redis_errors_total", "Failed Redis calls, by kind.", MetricType::kCounter,
      [&c](Samples& samples) {
        samples.push_back(MetricSample{"", {{"kind", "unavailable"}}, Load(c.errors_unavailable)});
        samples.push_back(MetricSample{"", {{"kind", "oom"}}, Load(c.errors_oom)});
        samples.push_back(MetricSample{"", {{"kind", "other"}}, Load(c.errors_other)});
      });
  const redis::RedisRouterCounters& router = store.router_counters();
  registry.AddValue("pushbroker_redis_function_reloads_total",
                    "Times the pb1 library was missing (FUNCTION FLUSH, a new node) and reloaded.",
                    MetricType::kCounter, [&router] { return Load(router.function_reloads); });
  registry.AddValue("pushbroker_redis_redirects_total",
                    "MOVED and ASK replies followed (Redis Cluster: slots that moved).",
                    MetricType::kCounter, [&router] { return Load(router.redirects); });
  registry.AddValue("pushbroker_redis_retries_total",
                    "Calls sent again because the reply proved they had not run (TRYAGAIN, "
                    "CLUSTERDOWN, a slot in migration, not sent).",
                    MetricType::kCounter, [&router] { return Load(router.retries); });
  registry.AddValue("pushbroker_redis_map_changes_total",
                    "Times the map of which master serves which slot changed (the first included).",
                    MetricType::kCounter, [&router] { return Load(router.map_refreshes); });
  registry.AddValue("pushbroker_redis_feed_subscribes_total",
                    "Complete subscriptions of the live feed: 1 at start, +1 per reconnect.",
                    MetricType::kCounter, [&feed] { return Load(feed.subscribes); });
  registry.AddValue("pushbroker_redis_catchups_total",
                    "Resynchronisations: local streams closed to resume from their last id after "
                    "a sequence gap or a feed reconnect.",
                    MetricType::kCounter, [&feed] { return Load(feed.resyncs); });
  registry.AddValue("pushbroker_redis_probes_lost_total",
                    "Liveness probes of the live feed that did not come back (feed reconnected).",
                    MetricType::kCounter, [&feed] { return Load(feed.probes_lost); });
  registry.AddValue("pushbroker_redis_notifications_total", "Notifications the live feed received.",
                    MetricType::kCounter, [&feed] { return Load(feed.notifications); });
  registry.AddValue("pushbroker_redis_fenced_mailboxes_total",
                    "Mailboxes that took a new epoch under a new Redis process (Redis-wide).",
                    MetricType::kCounter, [&store] { return static_cast<double>(store.fenced()); });
}

void RegisterBrokerMetrics(MetricsRegistry& registry, Broker& broker, MailboxStore& store,
                           const HttpEdge& http, const GrpcServer& grpc, const AdminServer& admin) {
  RegisterCoreMetrics(registry, broker);
  RegisterStoreMetrics(registry, store);
  RegisterStreamMetrics(registry, http);
  RegisterListenerMetrics(registry, http, admin);
  registry.Add(
      "pushbroker_grpc_requests_total", "Finished pushbroker.v1.Broker calls, by method and code.",
      MetricType::kCounter, [&grpc](Samples& samples) {
        for (const auto& [key, count] : grpc.call_stats().Snapshot()) {
          samples.push_back(MetricSample{
              "", {{"method", key.first}, {"code", key.second}}, static_cast<double>(count)});
        }
      });
  AddProcessMetrics(registry);
}

}  // namespace pushbroker
