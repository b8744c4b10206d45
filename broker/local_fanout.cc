#include "broker/local_fanout.h"

#include <algorithm>

#include "absl/random/random.h"

namespace pushbroker {

LocalFanout::Shard& LocalFanout::ShardFor(const std::string& client_id) {
  return shards_[std::hash<std::string>{}(client_id) % kShards];
}

size_t LocalFanout::OnAppended(const std::string& client_id, const Message& message,
                               FanoutBatch& batch) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.sinks.find(client_id);
  if (it == shard.sinks.end()) return 0;
  for (const auto& sink : it->second) sink->Deliver(message, batch);
  return it->second.size();
}

void LocalFanout::CloseStreams(const std::string& client_id, CloseCause cause, uint32_t retry_ms) {
  for (const auto& sink : SinksOf(client_id)) sink->Close(cause, retry_ms);
}

void LocalFanout::Resync(const std::function<bool(const std::string&)>& affected,
                         uint32_t retry_ms) {
  std::vector<std::shared_ptr<StreamSink>> closing;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (const auto& [client_id, sinks] : shard.sinks) {
      if (affected(client_id)) closing.insert(closing.end(), sinks.begin(), sinks.end());
    }
  }
  // Jittered, so a resynchronisation of many streams does not bring them
  // all back at once: each returns between retry_ms and twice that.
  absl::BitGen random;
  for (const auto& sink : closing) {
    sink->Close(CloseCause::kDisconnected,
                retry_ms + absl::Uniform<uint32_t>(random, 0, retry_ms + 1));
  }
}

bool LocalFanout::Register(const std::string& client_id, std::shared_ptr<StreamSink> sink,
                           size_t max_per_client) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  std::vector<std::shared_ptr<StreamSink>>& sinks = shard.sinks[client_id];
  if (sinks.size() >= max_per_client) return false;
  sinks.push_back(std::move(sink));
  return true;
}

void LocalFanout::Unregister(const std::string& client_id, const StreamSink* sink, absl::Time now) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.sinks.find(client_id);
  if (it == shard.sinks.end()) return;
  auto& sinks = it->second;
  sinks.erase(
      std::remove_if(sinks.begin(), sinks.end(), [sink](const auto& s) { return s.get() == sink; }),
      sinks.end());
  if (sinks.empty()) shard.sinks.erase(it);
  shard.last_seen[client_id] = now;
}

size_t LocalFanout::StreamCount(const std::string& client_id) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.sinks.find(client_id);
  return it == shard.sinks.end() ? 0 : it->second.size();
}

std::optional<absl::Time> LocalFanout::LastSeen(const std::string& client_id) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.last_seen.find(client_id);
  if (it == shard.last_seen.end()) return std::nullopt;
  return it->second;
}

std::vector<std::shared_ptr<StreamSink>> LocalFanout::SinksOf(const std::string& client_id) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.sinks.find(client_id);
  if (it == shard.sinks.end()) return {};
  return it->second;
}

std::vector<std::shared_ptr<StreamSink>> LocalFanout::AllSinks() {
  std::vector<std::shared_ptr<StreamSink>> all;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (const auto& [client_id, sinks] : shard.sinks) {
      all.insert(all.end(), sinks.begin(), sinks.end());
    }
  }
  return all;
}

size_t LocalFanout::TrackedClients() const {
  size_t tracked = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    tracked += shard.last_seen.size();
    for (const auto& [client_id, sinks] : shard.sinks)
      tracked += shard.last_seen.count(client_id) == 0;
  }
  return tracked;
}

void LocalFanout::Forget(const std::string& client_id) {
  Shard& shard = ShardFor(client_id);
  absl::MutexLock lock(&shard.mu);
  shard.last_seen.erase(client_id);
}

}  // namespace pushbroker
