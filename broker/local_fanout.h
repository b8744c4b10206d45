// LocalFanout: the registry of live streams on this process, and the store's
// AppendListener that hands each appended message to its client's streams.
#ifndef PUSH_BROKER_BROKER_LOCAL_FANOUT_H_
#define PUSH_BROKER_BROKER_LOCAL_FANOUT_H_

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "broker/mailbox_store.h"
#include "broker/stream_sink.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads. Clients are spread over
// shards with a lock each; a shard lock is held while a message is handed to
// that client's sinks, which only queue it (StreamSink's contract).
class LocalFanout final : public AppendListener {
 public:
  LocalFanout() = default;

  size_t OnAppended(const std::string& client_id, const Message& message,
                    FanoutBatch& batch) override;
  void CloseStreams(const std::string& client_id, CloseCause cause, uint32_t retry_ms) override;
  void Resync(const std::function<bool(const std::string&)>& affected, uint32_t retry_ms) override;

  // False, registering nothing, when the client already has `max_per_client`
  // sinks.
  bool Register(const std::string& client_id, std::shared_ptr<StreamSink> sink,
                size_t max_per_client = SIZE_MAX);
  // Removes the sink; records `now` as the client's last-seen time.
  void Unregister(const std::string& client_id, const StreamSink* sink, absl::Time now);

  size_t StreamCount(const std::string& client_id);
  // The last time a stream of this client closed, if one ever did.
  std::optional<absl::Time> LastSeen(const std::string& client_id);
  // A copy of the client's sinks, to act on them without holding a lock.
  std::vector<std::shared_ptr<StreamSink>> SinksOf(const std::string& client_id);
  std::vector<std::shared_ptr<StreamSink>> AllSinks();
  void Forget(const std::string& client_id);
  // Clients this registry keeps anything for (streams or a last-seen time).
  size_t TrackedClients() const;

 private:
  struct Shard {
    mutable absl::Mutex mu;
    std::unordered_map<std::string, std::vector<std::shared_ptr<StreamSink>>> sinks
        ABSL_GUARDED_BY(mu);
    std::unordered_map<std::string, absl::Time> last_seen ABSL_GUARDED_BY(mu);
  };
  static constexpr size_t kShards = 32;

  Shard& ShardFor(const std::string& client_id);

  std::array<Shard, kShards> shards_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_LOCAL_FANOUT_H_
