// BrokerStats: what the core counts, as plain atomics; the app exposes them
// as metrics. Safe for concurrent access from multiple threads.
#ifndef PUSH_BROKER_BROKER_BROKER_STATS_H_
#define PUSH_BROKER_BROKER_BROKER_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>

#include "broker/publish.h"
#include "broker/replay.h"

namespace pushbroker {

constexpr size_t kTargetKinds = 4;  // client, clients, topic, broadcast
constexpr size_t kResetReasons = 4;

// Index of a target kind in the per-kind arrays (kUnset is never counted).
inline size_t TargetIndex(PublishTarget::Kind kind) {
  switch (kind) {
    case PublishTarget::Kind::kClients:
      return 1;
    case PublishTarget::Kind::kTopic:
      return 2;
    case PublishTarget::Kind::kBroadcast:
      return 3;
    default:
      return 0;
  }
}
inline const char* TargetName(size_t index) {
  static constexpr const char* kNames[kTargetKinds] = {"client", "clients", "topic", "broadcast"};
  return kNames[index];
}

struct BrokerStats {
  std::array<std::atomic<uint64_t>, kTargetKinds> publishes{};  // accepted publish requests
  std::array<std::atomic<uint64_t>, kTargetKinds> appended{};   // mailbox appends
  std::array<std::atomic<uint64_t>, kTargetKinds> delivered{};  // hand-overs to live streams
  std::atomic<uint64_t> streams_opened{0};
  std::atomic<uint64_t> replays{0};  // streams opened after a Last-Event-ID or cursor
  std::array<std::atomic<uint64_t>, kResetReasons> resets{};  // by ResetReason
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_BROKER_BROKER_STATS_H_
