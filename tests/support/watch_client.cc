#include "tests/support/watch_client.h"

namespace pushbroker::testing {

std::unique_ptr<WatchClient> WatchClient::Open(v1::Broker::Stub* stub, v1::WatchRequest first,
                                               Options options) {
  std::unique_ptr<WatchClient> client(new WatchClient(options));
  client->stream_ = stub->Watch(&client->context_);
  client->stream_->Write(first);
  if (options.start_reading) client->StartReading();
  client->reader_ = std::thread([raw = client.get()] { raw->ReadLoop(); });
  return client;
}

WatchClient::~WatchClient() {
  context_.TryCancel();
  StartReading();
  if (reader_.joinable()) reader_.join();
}

void WatchClient::StartReading() {
  absl::MutexLock lock(&mu_);
  reading_ = true;
}

void WatchClient::ReadLoop() {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&reading_));
  }
  v1::BrokerEvent event;
  while (stream_->Read(&event)) {
    if (options_.auto_confirm) Confirm({event.id()});
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  }
  grpc::Status status = stream_->Finish();
  absl::MutexLock lock(&mu_);
  status_ = std::move(status);
  ended_ = true;
}

std::vector<v1::BrokerEvent> WatchClient::WaitFor(size_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [&]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ended_ || events_.size() >= count; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return events_;
}

std::optional<v1::BrokerEvent> WatchClient::WaitForEvent(
    const std::function<bool(const v1::BrokerEvent&)>& match, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  std::optional<v1::BrokerEvent> found;
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& event : events_) {
      if (match(event)) {
        found = event;
        return true;
      }
    }
    return ended_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return found;
}

std::vector<v1::BrokerEvent> WatchClient::events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

bool WatchClient::Confirm(const std::vector<std::string>& ids) {
  absl::MutexLock lock(&write_mu_);
  if (writes_done_) return false;
  v1::WatchRequest request;
  for (const std::string& id : ids) request.add_confirm_ids(id);
  return stream_->Write(request);
}

grpc::Status WatchClient::Finish() {
  {
    absl::MutexLock lock(&write_mu_);
    if (!writes_done_) stream_->WritesDone();
    writes_done_ = true;
  }
  StartReading();
  return AwaitEnd();
}

grpc::Status WatchClient::AwaitEnd(absl::Duration timeout) {
  StartReading();
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
  return status_.value_or(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "still open"));
}

}  // namespace pushbroker::testing
