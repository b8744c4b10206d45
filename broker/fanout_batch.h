// FanoutBatch: what one append (a publish's, or one notification from
// another replica) hands to the live streams of this process, gathered so
// that each stream loop is woken once per batch rather than once per stream,
// and each payload is encoded once for all the streams that write it.
#ifndef PUSH_BROKER_BROKER_FANOUT_BATCH_H_
#define PUSH_BROKER_BROKER_FANOUT_BATCH_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "broker/message.h"

namespace pushbroker {

class StreamSink;

// Not thread-safe: one fanning-out thread owns a batch for one append.
// Wake-ups go out in groups of kWakeGroup while the batch fills (so a loop
// starts writing before a large broadcast is fully queued) and the rest at
// Flush() or destruction, which the store calls once its locks are released.
class FanoutBatch {
 public:
  // Whatever writes many sinks from one thread (an SSE loop), woken with
  // every sink of the batch that has something new for it.
  class Waker {
   public:
    virtual ~Waker() = default;
    // Takes the sinks (the vector is left empty, its capacity kept).
    virtual void WakeAll(std::vector<std::shared_ptr<StreamSink>>& sinks) = 0;
  };

  // Sinks a waker gets at once before the batch ends: big enough to spare
  // the loop's lock and signal, small enough that writing starts early.
  static constexpr size_t kWakeGroup = 256;

  FanoutBatch() = default;
  FanoutBatch(const FanoutBatch&) = delete;
  FanoutBatch& operator=(const FanoutBatch&) = delete;
  ~FanoutBatch() { Flush(); }

  // `sink` has something queued for `waker` to write.
  void Wake(Waker* waker, std::shared_ptr<StreamSink> sink);
  // Wakes everything gathered so far.
  void Flush();

  // The encoding of `payload` that `encoder` (a tag naming the format, e.g.
  // the SSE edge's frame) makes, made by `encode` for the first sink that
  // asks and shared with every other sink of the batch.
  using Encoding = std::shared_ptr<const std::string>;
  Encoding Encoded(const std::shared_ptr<const Payload>& payload, const void* encoder,
                   absl::FunctionRef<Encoding()> encode);

 private:
  std::vector<std::pair<Waker*, std::vector<std::shared_ptr<StreamSink>>>> wakes_;
  std::shared_ptr<const Payload> encoded_payload_;  // held: its address is the key
  const void* encoded_by_ = nullptr;
  std::shared_ptr<const std::string> encoded_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_FANOUT_BATCH_H_
