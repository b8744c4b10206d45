// ReflectionClient: what grpcurl does against a server that offers
// reflection, done in-process: list the services, fetch each one's file
// descriptor (and its dependencies) over grpc.reflection.v1alpha, build
// the messages from those descriptors alone, and call methods with JSON in
// and out. Not thread-safe.
#ifndef PUSH_BROKER_TESTS_SUPPORT_REFLECTION_CLIENT_H_
#define PUSH_BROKER_TESTS_SUPPORT_REFLECTION_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "grpcpp/grpcpp.h"

namespace pushbroker::testing {

class ReflectionClient {
 public:
  explicit ReflectionClient(std::shared_ptr<grpc::Channel> channel)
      : channel_(std::move(channel)) {}

  // `grpcurl list`.
  absl::StatusOr<std::vector<std::string>> ListServices();
  // `grpcurl describe SERVICE`: its descriptor, built from what the server
  // sent about it (file_containing_symbol, then file_by_filename for each
  // dependency not yet known).
  absl::StatusOr<const google::protobuf::ServiceDescriptor*> Describe(const std::string& service);
  // `grpcurl -d JSON HOST SERVICE/METHOD`: the first response as JSON. A
  // streaming call is cancelled after its first response.
  grpc::Status Call(const std::string& service, const std::string& method,
                    const std::string& json_request, std::string* json_response);

 private:
  // One reflection request (already encoded) and its response's bytes.
  absl::StatusOr<std::string> Ask(const std::string& request);
  // Adds the files of a FileDescriptorResponse to the pool, fetching
  // missing dependencies first.
  absl::Status AddFiles(const std::string& reflection_response, int depth);

  const std::shared_ptr<grpc::Channel> channel_;
  google::protobuf::DescriptorPool pool_;
  google::protobuf::DynamicMessageFactory factory_{&pool_};
};

}  // namespace pushbroker::testing

#endif  // PUSH_BROKER_TESTS_SUPPORT_REFLECTION_CLIENT_H_
