// LatencyLog: publish-to-receive samples and their percentiles. Publishers
// put their send time (Unix nanoseconds) in the message data; the receiver
// subtracts it from its own read time (same machine, same clock). Not
// thread-safe.
#ifndef PUSH_BROKER_BENCH_LOAD_LATENCY_H_
#define PUSH_BROKER_BENCH_LOAD_LATENCY_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace pushbroker::bench {

// "<sequence> <unix nanos>[ padding]": what the benchmark publishes.
inline std::string StampedData(uint64_t sequence, size_t pad = 0) {
  std::string data = absl::StrCat(sequence, " ", absl::GetCurrentTimeNanos());
  if (pad > 0) data.append(pad, '.');
  return data;
}

struct Stamp {
  uint64_t sequence = 0;
  int64_t sent_nanos = 0;
};

inline bool ParseStamp(absl::string_view data, Stamp* stamp) {
  const size_t space = data.find(' ');
  if (space == absl::string_view::npos) return false;
  absl::string_view rest = data.substr(space + 1);
  rest = rest.substr(0, rest.find('.'));
  return absl::SimpleAtoi(data.substr(0, space), &stamp->sequence) &&
         absl::SimpleAtoi(rest, &stamp->sent_nanos);
}

class LatencyLog {
 public:
  void Add(int64_t sent_nanos, absl::Time received) {
    samples_.push_back(absl::ToUnixNanos(received) - sent_nanos);
  }
  size_t count() const { return samples_.size(); }
  // Milliseconds at quantile q (0..1); 0 with no samples.
  double QuantileMs(double q) {
    if (samples_.empty()) return 0;
    if (!sorted_) {
      std::sort(samples_.begin(), samples_.end());
      sorted_ = true;
    }
    const size_t at = std::min(samples_.size() - 1, static_cast<size_t>(q * samples_.size()));
    return static_cast<double>(samples_[at]) / 1e6;
  }
  void Clear() {
    samples_.clear();
    sorted_ = false;
  }

 private:
  std::vector<int64_t> samples_;
  bool sorted_ = false;
};

}  // namespace pushbroker::bench

#endif  // PUSH_BROKER_BENCH_LOAD_LATENCY_H_
