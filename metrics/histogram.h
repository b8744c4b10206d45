// Histogram: a Prometheus histogram with fixed bucket bounds (seconds) and
// lock-free observation.
#ifndef PUSH_BROKER_METRICS_HISTOGRAM_H_
#define PUSH_BROKER_METRICS_HISTOGRAM_H_

#include <atomic>
#include <memory>
#include <vector>

#include "metrics/metrics_registry.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads.
class Histogram {
 public:
  // `bounds`: ascending upper bounds; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);
  // Appends the _bucket (cumulative), _sum and _count samples.
  void Collect(std::vector<MetricSample>& samples) const;

  // 1 ms to 10 s, for latencies.
  static std::vector<double> LatencyBounds();

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_METRICS_HISTOGRAM_H_
