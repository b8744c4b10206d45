#include "bench/load/event_watcher.h"

namespace pushbroker::bench {

EventWatcher::EventWatcher(std::shared_ptr<grpc::Channel> channel, std::vector<std::string> kinds,
                           std::string group, SeenEvents* seen)
    : stub_(v1::Broker::NewStub(std::move(channel))),
      kinds_(std::move(kinds)),
      group_(std::move(group)),
      seen_(seen) {}

void EventWatcher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void EventWatcher::Stop() {
  if (!thread_.joinable()) return;
  context_.TryCancel();
  thread_.join();
}

void EventWatcher::Run() {
  auto stream = stub_->Watch(&context_);
  v1::WatchRequest open;
  for (const std::string& kind : kinds_) open.add_kinds(kind);
  open.set_group(group_);
  if (!stream->Write(open)) return;
  // Confirmed 64 at a time: one write per 64 events.
  constexpr int kConfirmBatch = 64;
  v1::WatchRequest confirm;
  v1::BrokerEvent event;
  while (stream->Read(&event)) {
    received_.fetch_add(1, std::memory_order_relaxed);
    if (seen_ != nullptr && !seen_->Insert(event.id())) {
      duplicates_.fetch_add(1, std::memory_order_relaxed);
    }
    if (group_.empty()) continue;
    confirm.add_confirm_ids(event.id());
    if (confirm.confirm_ids_size() >= kConfirmBatch) {
      if (!stream->Write(confirm)) break;
      confirm.Clear();
    }
  }
  (void)stream->Finish();
}

}  // namespace pushbroker::bench
