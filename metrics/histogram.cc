#include "metrics/histogram.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_format.h"

namespace pushbroker {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

std::vector<double> Histogram::LatencyBounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

void Histogram::Observe(double value) {
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

void Histogram::Collect(std::vector<MetricSample>& samples) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    const std::string le = i < bounds_.size() ? absl::StrFormat("%g", bounds_[i]) : "+Inf";
    samples.push_back(MetricSample{"_bucket", {{"le", le}}, static_cast<double>(cumulative)});
  }
  samples.push_back(MetricSample{"_sum", {}, sum_.load(std::memory_order_relaxed)});
  samples.push_back(MetricSample{"_count", {}, static_cast<double>(cumulative)});
}

}  // namespace pushbroker
