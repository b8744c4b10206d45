#include "broker/fanout_batch.h"

namespace pushbroker {

void FanoutBatch::Wake(Waker* waker, std::shared_ptr<StreamSink> sink) {
  // A handful of wakers (the SSE loops): a scan beats a map.
  auto it = wakes_.begin();
  while (it != wakes_.end() && it->first != waker) ++it;
  if (it == wakes_.end()) {
    wakes_.emplace_back(waker, std::vector<std::shared_ptr<StreamSink>>());
    it = wakes_.end() - 1;
    it->second.reserve(kWakeGroup);
  }
  it->second.push_back(std::move(sink));
  if (it->second.size() >= kWakeGroup) waker->WakeAll(it->second);
}

void FanoutBatch::Flush() {
  for (auto& [waker, sinks] : wakes_) {
    if (!sinks.empty()) waker->WakeAll(sinks);
  }
}

FanoutBatch::Encoding FanoutBatch::Encoded(const std::shared_ptr<const Payload>& payload,
                                           const void* encoder,
                                           absl::FunctionRef<Encoding()> encode) {
  if (encoded_ == nullptr || encoded_payload_ != payload || encoded_by_ != encoder) {
    encoded_ = encode();
    encoded_payload_ = payload;
    encoded_by_ = encoder;
  }
  return encoded_;
}

}  // namespace pushbroker
