#include "events/receipt_waits.h"

namespace pushbroker {

bool ReceiptWaits::Wait::Record(const std::string& client_id, uint64_t epoch, uint64_t first,
                                uint64_t through, bool acked) {
  if (!targets_known_) {
    early_.emplace_back(client_id, Early{epoch, first, through, acked});
    return false;
  }
  auto it = targets_.find(client_id);
  if (it == targets_.end() || !it->second.known) return false;
  Target& target = it->second;
  if (target.id.epoch != epoch || target.id.offset < first || target.id.offset > through) {
    return false;
  }
  // An ack proves delivery too.
  if (!target.delivered) {
    target.delivered = true;
    ++counts_.delivered;
  }
  if (acked && !target.acked) {
    target.acked = true;
    ++counts_.acked;
  }
  return Complete();
}

bool ReceiptWaits::Wait::Complete() const {
  const size_t wanted = targets_.size();
  return want_ == Receipt::kAcked ? counts_.acked == wanted : counts_.delivered == wanted;
}

std::shared_ptr<ReceiptWaits::Wait> ReceiptWaits::Begin(const std::vector<std::string>& clients,
                                                        Receipt want, absl::Time deadline,
                                                        Done done) {
  auto wait = std::make_shared<Wait>(clients, want, deadline, std::move(done));
  absl::MutexLock lock(&mu_);
  for (const std::string& client : clients) by_client_[client].push_back(wait);
  by_deadline_.emplace(deadline, wait);
  active_.fetch_add(1, std::memory_order_relaxed);
  return wait;
}

ReceiptWaits::Done ReceiptWaits::FinishLocked(Wait& wait) {
  wait.finished_ = true;
  for (const std::string& client : wait.clients_) {
    auto it = by_client_.find(client);
    if (it == by_client_.end()) continue;
    auto& waits = it->second;
    for (size_t i = 0; i < waits.size(); ++i) {
      if (waits[i].get() == &wait) {
        waits[i] = std::move(waits.back());
        waits.pop_back();
        break;
      }
    }
    if (waits.empty()) by_client_.erase(it);
  }
  auto [begin, end] = by_deadline_.equal_range(wait.deadline_);
  for (auto it = begin; it != end; ++it) {
    if (it->second.get() == &wait) {
      by_deadline_.erase(it);
      break;
    }
  }
  active_.fetch_sub(1, std::memory_order_relaxed);
  return std::move(wait.done_);
}

void ReceiptWaits::SetTargets(const std::shared_ptr<Wait>& wait,
                              const std::vector<std::pair<std::string, MessageId>>& targets) {
  Done done;
  ReceiptCounts counts;
  {
    absl::MutexLock lock(&mu_);
    if (wait->finished_) return;
    for (const auto& [client, id] : targets) {
      Wait::Target& target = wait->targets_[client];
      target.id = id;
      target.known = true;
    }
    wait->targets_known_ = true;
    bool complete = wait->Complete();
    for (const auto& [client, early] : wait->early_) {
      complete |= wait->Record(client, early.epoch, early.first, early.through, early.acked);
    }
    wait->early_.clear();
    if (complete) {
      counts = wait->counts_;
      done = FinishLocked(*wait);
    }
  }
  if (done) done(counts);
}

void ReceiptWaits::Cancel(const std::shared_ptr<Wait>& wait) {
  absl::MutexLock lock(&mu_);
  if (!wait->finished_) FinishLocked(*wait);
}

void ReceiptWaits::Report(const std::string& client_id, uint64_t epoch, uint64_t first,
                          uint64_t through, bool acked) {
  if (!active()) return;
  std::vector<std::pair<Done, ReceiptCounts>> finished;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_client_.find(client_id);
    if (it == by_client_.end()) return;
    std::vector<std::shared_ptr<Wait>> waits = it->second;  // FinishLocked edits the list
    for (const auto& wait : waits) {
      if (wait->finished_ || !wait->Record(client_id, epoch, first, through, acked)) continue;
      finished.emplace_back(FinishLocked(*wait), wait->counts_);
    }
  }
  for (auto& [done, counts] : finished) done(counts);
}

void ReceiptWaits::Delivered(const std::string& client_id, uint64_t epoch, uint64_t first,
                             uint64_t through) {
  Report(client_id, epoch, first, through, /*acked=*/false);
}

void ReceiptWaits::Acked(const std::string& client_id, const MessageId& id) {
  Report(client_id, id.epoch, id.offset, id.offset, /*acked=*/true);
}

void ReceiptWaits::Tick(absl::Time now) {
  if (!active()) return;
  std::vector<std::pair<Done, ReceiptCounts>> finished;
  {
    absl::MutexLock lock(&mu_);
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
      std::shared_ptr<Wait> wait = by_deadline_.begin()->second;
      finished.emplace_back(FinishLocked(*wait), wait->counts_);
    }
  }
  for (auto& [done, counts] : finished) done(counts);
}

}  // namespace pushbroker
