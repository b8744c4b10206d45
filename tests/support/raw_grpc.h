// A gRPC call with raw request bytes over a real channel, for services whose
// generated code the tests do not link (health, reflection).
#ifndef PUSH_BROKER_TESTS_SUPPORT_RAW_GRPC_H_
#define PUSH_BROKER_TESTS_SUPPORT_RAW_GRPC_H_

#include <memory>
#include <string>

#include "grpcpp/grpcpp.h"

namespace pushbroker::testing {

// Sends one message to `method` and returns the first response's bytes in
// `response`; works for unary and streaming methods alike on the wire. With
// `cancel_after_first`, a call that answered is cancelled then and counts
// as OK (for server streams that never end, like Health/Watch).
grpc::Status RawGrpcCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                         const std::string& request, std::string* response,
                         bool cancel_after_first = false);

// grpc.health.v1.Health/Check for `service`: 1 SERVING, 2 NOT_SERVING, -1 on error.
int HealthStatus(const std::shared_ptr<grpc::Channel>& channel, const std::string& service);

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_RAW_GRPC_H_
