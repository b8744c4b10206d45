// The standard process_* metrics of this process, read from /proc at scrape
// time: CPU seconds, resident memory, open file descriptors, threads.
#ifndef PUSH_BROKER_METRICS_PROCESS_METRICS_H_
#define PUSH_BROKER_METRICS_PROCESS_METRICS_H_

#include "metrics/metrics_registry.h"

namespace pushbroker {

void AddProcessMetrics(MetricsRegistry& registry);

}  // namespace pushbroker

#endif  // PUSH_BROKER_METRICS_PROCESS_METRICS_H_
