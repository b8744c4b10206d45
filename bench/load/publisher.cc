#include "bench/load/publisher.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace pushbroker::bench {
namespace {

absl::Status ToStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::chrono::system_clock::time_point In(absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace

Publisher::Publisher(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::Broker::NewStub(channel_);
}

absl::Status Publisher::Publish(const v1::PublishRequest& request, v1::PublishResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(30)));
  v1::PublishResponse ignored;
  return ToStatus(stub_->Publish(&context, request, response != nullptr ? response : &ignored));
}

absl::Status Publisher::Broadcast(const std::string& data) {
  v1::PublishRequest request;
  request.set_broadcast(true);
  request.set_data(data);
  return Publish(request);
}

absl::Status Publisher::Disconnect(const std::string& client_id, uint32_t retry_ms) {
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(10)));
  v1::DisconnectRequest request;
  request.set_client_id(client_id);
  request.set_retry_ms(retry_ms);
  v1::DisconnectResponse response;
  return ToStatus(stub_->Disconnect(&context, request, &response));
}

absl::StatusOr<absl::Duration> Publisher::TimeGetClient(const std::string& client_id) {
  grpc::ClientContext context;
  context.set_deadline(In(absl::Seconds(10)));
  v1::GetClientRequest request;
  request.set_client_id(client_id);
  v1::ClientInfo info;
  const absl::Time start = absl::Now();
  grpc::Status status = stub_->GetClient(&context, request, &info);
  if (!status.ok() && status.error_code() != grpc::StatusCode::NOT_FOUND) return ToStatus(status);
  return absl::Now() - start;
}

namespace {

// Keeps `in_flight` chains of asynchronous calls going until every chain's
// `start(next)` returns false: `start` begins one call, whose completion
// calls `next` to begin the chain's next call. Returns when all have ended.
void RunChains(size_t in_flight, const std::function<bool(const std::function<void()>&)>& start) {
  absl::Mutex mu;
  size_t outstanding = in_flight;
  std::function<void()> launch;
  launch = [&] {
    if (start(launch)) return;
    absl::MutexLock lock(&mu);
    --outstanding;
  };
  for (size_t i = 0; i < in_flight; ++i) launch();
  absl::MutexLock lock(&mu);
  mu.Await(absl::Condition(
      +[](size_t* n) { return *n == 0; }, &outstanding));
}

}  // namespace

LoadResult Publisher::RunUnary(const RequestMaker& make, size_t in_flight, uint64_t count,
                               absl::Duration duration) {
  struct Call {
    grpc::ClientContext context;
    v1::PublishRequest request;
    v1::PublishResponse response;
  };
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> acknowledged{0};
  std::atomic<uint64_t> failed{0};
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  RunChains(in_flight, [&](const std::function<void()>& then) {
    const uint64_t n = next.fetch_add(1);
    if (n >= count || absl::Now() >= end) return false;
    auto* call = new Call;
    call->context.set_deadline(In(absl::Seconds(30)));
    make(n, &call->request);
    stub_->async()->Publish(&call->context, &call->request, &call->response,
                            [&, call](grpc::Status status) {
                              (status.ok() ? acknowledged : failed).fetch_add(1);
                              delete call;
                              then();
                            });
    return true;
  });
  return LoadResult{acknowledged.load(), failed.load(), absl::Now() - start};
}

LoadResult Publisher::RunBatches(const RequestMaker& make, size_t batch, size_t in_flight,
                                 uint64_t count, absl::Duration duration) {
  struct Call {
    grpc::ClientContext context;
    v1::PublishBatchRequest request;
    v1::PublishBatchResponse response;
  };
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> acknowledged{0};
  std::atomic<uint64_t> failed{0};
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  RunChains(in_flight, [&](const std::function<void()>& then) {
    const uint64_t first = next.fetch_add(batch);
    if (first >= count || absl::Now() >= end) return false;
    auto* call = new Call;
    call->context.set_deadline(In(absl::Seconds(30)));
    for (uint64_t n = first; n < std::min<uint64_t>(count, first + batch); ++n) {
      make(n, call->request.add_requests());
    }
    stub_->async()->PublishBatch(
        &call->context, &call->request, &call->response, [&, call](grpc::Status status) {
          if (!status.ok()) {
            failed.fetch_add(static_cast<uint64_t>(call->request.requests_size()));
          } else {
            for (const auto& result : call->response.results()) {
              (result.has_response() ? acknowledged : failed).fetch_add(1);
            }
          }
          delete call;
          then();
        });
    return true;
  });
  return LoadResult{acknowledged.load(), failed.load(), absl::Now() - start};
}

LoadResult Publisher::RunStreams(const RequestMaker& make, size_t streams, uint64_t count,
                                 absl::Duration duration, size_t window) {
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> acknowledged{0};
  std::atomic<uint64_t> failed{0};
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  std::vector<std::thread> threads;
  for (size_t s = 0; s < streams; ++s) {
    threads.emplace_back([&] {
      grpc::ClientContext context;
      context.set_deadline(In(duration + absl::Seconds(30)));
      auto stream = stub_->PublishStream(&context);
      absl::Mutex mu;
      uint64_t written = 0;
      uint64_t answered = 0;
      bool reading = true;
      std::thread reader([&] {
        v1::PublishResponse response;
        while (stream->Read(&response)) {
          acknowledged.fetch_add(1);
          absl::MutexLock lock(&mu);
          ++answered;
        }
        absl::MutexLock lock(&mu);
        reading = false;
      });
      v1::PublishRequest request;
      while (true) {
        {
          absl::MutexLock lock(&mu);
          auto room = [&] { return !reading || written - answered < window; };
          mu.Await(absl::Condition(&room));
          if (!reading) break;
        }
        const uint64_t n = next.fetch_add(1);
        if (n >= count || ((n & 63) == 0 && absl::Now() >= end)) break;
        request.Clear();
        make(n, &request);
        if (!stream->Write(request)) break;
        absl::MutexLock lock(&mu);
        ++written;
      }
      stream->WritesDone();
      reader.join();
      if (!stream->Finish().ok()) failed.fetch_add(1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  return LoadResult{acknowledged.load(), failed.load(), absl::Now() - start};
}

}  // namespace pushbroker::bench
