#include "tests/support/raw_grpc.h"

#include <vector>

#include "grpcpp/generic/generic_stub.h"

namespace pushbroker::testing {

grpc::Status RawGrpcCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                         const std::string& request, std::string* response,
                         bool cancel_after_first) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(&context, method, &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice slice(request);
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  call->WritesDone(reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  const bool answered = ok;
  if (answered) {
    std::vector<grpc::Slice> slices;
    (void)in.Dump(&slices);
    for (const grpc::Slice& s : slices) {
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  if (cancel_after_first && answered) context.TryCancel();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(5)) {
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (cancel_after_first && answered && status.error_code() == grpc::StatusCode::CANCELLED) {
    return grpc::Status::OK;
  }
  return status;
}

int HealthStatus(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  // HealthCheckRequest{service = 1}; HealthCheckResponse{status = 1}.
  std::string request;
  if (!service.empty())
    request = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
  std::string response;
  if (!RawGrpcCall(channel, "/grpc.health.v1.Health/Check", request, &response).ok()) return -1;
  if (response.size() == 2 && response[0] == '\x08') return response[1];
  return response.empty() ? 0 : -1;
}

}  // namespace pushbroker::testing
