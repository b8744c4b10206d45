// The broker's metric families: what the core, the store, the edges and the
// process count, registered for the admin listener's /metrics.
#ifndef PUSH_BROKER_APP_BROKER_METRICS_H_
#define PUSH_BROKER_APP_BROKER_METRICS_H_

#include "admin/admin_server.h"
#include "broker/broker.h"
#include "broker/mailbox_store.h"
#include "grpc_api/grpc_server.h"
#include "http_edge/http_edge.h"
#include "metrics/metrics_registry.h"
#include "redis/redis_mailbox_store.h"

namespace pushbroker {

// Every argument must outlive the registry's use of it.
// The Redis engine's: reachability, call latency and load, errors by kind,
// the live feed's resynchronisations and probes, fenced mailboxes.
void RegisterRedisMetrics(MetricsRegistry& registry, const redis::RedisMailboxStore& store);

void RegisterBrokerMetrics(MetricsRegistry& registry, Broker& broker, MailboxStore& store,
                           const HttpEdge& http, const GrpcServer& grpc, const AdminServer& admin);

}  // namespace pushbroker

#endif  // PUSH_BROKER_APP_BROKER_METRICS_H_
