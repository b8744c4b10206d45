// PublishProbe: a unary Publish to one client every `interval`, timed, on a
// thread of its own, to see how other load holds publishing up. Start on
// construction, Stop() to end; then the latencies are read. Not thread-safe
// apart from its own thread.
#ifndef PUSH_BROKER_BENCH_LOAD_PROBE_H_
#define PUSH_BROKER_BENCH_LOAD_PROBE_H_

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load/publisher.h"

namespace pushbroker::bench {

class PublishProbe {
 public:
  PublishProbe(Publisher* publisher, std::string client_id, absl::Duration interval)
      : thread_([this, publisher, client_id, interval] {
          v1::PublishRequest request;
          request.set_client_id(client_id);
          request.set_data("probe");
          while (!stop_.load()) {
            const absl::Time start = absl::Now();
            if (publisher->Publish(request).ok()) {
              latencies_ms_.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
            } else {
              ++failures_;
            }
            absl::SleepFor(interval - (absl::Now() - start));
          }
        }) {}
  ~PublishProbe() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // After Stop(): the q-quantile in milliseconds (0 without samples).
  double QuantileMs(double q) {
    if (latencies_ms_.empty()) return 0;
    std::sort(latencies_ms_.begin(), latencies_ms_.end());
    const size_t index =
        std::min(latencies_ms_.size() - 1,
                 static_cast<size_t>(q * static_cast<double>(latencies_ms_.size())));
    return latencies_ms_[index];
  }
  size_t samples() const { return latencies_ms_.size(); }
  size_t failures() const { return failures_; }

 private:
  std::atomic<bool> stop_{false};
  std::vector<double> latencies_ms_;  // the probe thread's until Stop()
  size_t failures_ = 0;
  std::thread thread_;
};

}  // namespace pushbroker::bench

#endif  // PUSH_BROKER_BENCH_LOAD_PROBE_H_
