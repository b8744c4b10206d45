// MetricsRegistry: Prometheus text exposition (format 0.0.4) of metric
// families whose samples are gathered by callbacks at scrape time, so the
// components keep plain atomic counters and know nothing of Prometheus.
#ifndef PUSH_BROKER_METRICS_METRICS_REGISTRY_H_
#define PUSH_BROKER_METRICS_METRICS_REGISTRY_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace pushbroker {

// One sample of a family: `suffix` is appended to the family name (histograms
// use _bucket, _sum, _count), `labels` are name/value pairs.
struct MetricSample {
  std::string suffix;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

enum class MetricType { kCounter, kGauge, kHistogram };

// Safe for concurrent access from multiple threads. Collect callbacks run
// during Render() and must be thread-safe and quick.
class MetricsRegistry {
 public:
  using Collector = std::function<void(std::vector<MetricSample>& samples)>;

  void Add(std::string name, std::string help, MetricType type, Collector collect)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A family of one unlabeled sample.
  void AddValue(std::string name, std::string help, MetricType type, std::function<double()> value)
      ABSL_LOCKS_EXCLUDED(mu_);

  std::string Render() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Family {
    std::string name;
    std::string help;
    MetricType type;
    Collector collect;
  };
  mutable absl::Mutex mu_;
  std::vector<Family> families_ ABSL_GUARDED_BY(mu_);
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_METRICS_METRICS_REGISTRY_H_
