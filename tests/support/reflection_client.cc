#include "tests/support/reflection_client.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/json_util.h"
#include "tests/support/raw_grpc.h"

namespace pushbroker::testing {
namespace {

constexpr char kReflectionMethod[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
// ServerReflectionRequest fields.
constexpr int kFileByFilename = 3;
constexpr int kFileContainingSymbol = 4;
constexpr int kListServices = 7;
// ServerReflectionResponse fields.
constexpr int kFileDescriptorResponse = 4;
constexpr int kListServicesResponse = 6;
constexpr int kErrorResponse = 7;

// One length-delimited field of a message.
std::string Field(int number, const std::string& value) {
  std::string out(1, static_cast<char>((number << 3) | 2));
  size_t size = value.size();
  do {
    const unsigned char byte = size & 0x7f;
    size >>= 7;
    out.push_back(static_cast<char>(size > 0 ? (byte | 0x80) : byte));
  } while (size > 0);
  return out + value;
}

// The values of every length-delimited `number` field in `bytes`.
std::vector<std::string> Fields(const std::string& bytes, int number) {
  google::protobuf::UnknownFieldSet fields;
  std::vector<std::string> out;
  if (!fields.ParseFromString(bytes)) return out;
  for (int i = 0; i < fields.field_count(); ++i) {
    const google::protobuf::UnknownField& field = fields.field(i);
    if (field.number() == number &&
        field.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      out.push_back(field.length_delimited());
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ReflectionClient::Ask(const std::string& request) {
  std::string response;
  grpc::Status status =
      RawGrpcCall(channel_, kReflectionMethod, request, &response, /*cancel_after_first=*/true);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  for (const std::string& error : Fields(response, kErrorResponse)) {
    // ErrorResponse{error_code = 1, error_message = 2}
    const std::vector<std::string> message = Fields(error, 2);
    return absl::NotFoundError(message.empty() ? "reflection error" : message.front());
  }
  return response;
}

absl::StatusOr<std::vector<std::string>> ReflectionClient::ListServices() {
  absl::StatusOr<std::string> response = Ask(Field(kListServices, ""));
  if (!response.ok()) return response.status();
  std::vector<std::string> names;
  for (const std::string& list : Fields(*response, kListServicesResponse)) {
    for (const std::string& service : Fields(list, 1)) {
      for (const std::string& name : Fields(service, 1)) names.push_back(name);
    }
  }
  return names;
}

absl::Status ReflectionClient::AddFiles(const std::string& reflection_response, int depth) {
  if (depth > 16) return absl::InternalError("file dependencies nest too deeply");
  std::vector<google::protobuf::FileDescriptorProto> files;
  for (const std::string& descriptors : Fields(reflection_response, kFileDescriptorResponse)) {
    for (const std::string& bytes : Fields(descriptors, 1)) {
      files.emplace_back();
      if (!files.back().ParseFromString(bytes))
        return absl::InternalError("a bad FileDescriptorProto");
    }
  }
  if (files.empty()) return absl::NotFoundError("no file descriptor in the answer");
  auto known = [&](const std::string& name) {
    if (pool_.FindFileByName(name) != nullptr) return true;
    for (const auto& file : files) {
      if (file.name() == name) return true;
    }
    return false;
  };
  // Dependencies the server did not send along are asked for by name.
  for (size_t i = 0; i < files.size(); ++i) {
    for (const std::string& dependency : files[i].dependency()) {
      if (known(dependency)) continue;
      absl::StatusOr<std::string> more = Ask(Field(kFileByFilename, dependency));
      if (!more.ok()) return more.status();
      if (absl::Status added = AddFiles(*more, depth + 1); !added.ok()) return added;
    }
  }
  // Build each file once its dependencies are in the pool.
  bool progress = true;
  while (progress) {
    progress = false;
    for (const auto& file : files) {
      if (pool_.FindFileByName(file.name()) != nullptr) continue;
      bool ready = true;
      for (const std::string& dependency : file.dependency()) {
        ready = ready && pool_.FindFileByName(dependency) != nullptr;
      }
      if (!ready) continue;
      if (pool_.BuildFile(file) == nullptr) {
        return absl::InternalError(absl::StrCat("cannot build ", file.name()));
      }
      progress = true;
    }
  }
  for (const auto& file : files) {
    if (pool_.FindFileByName(file.name()) == nullptr) {
      return absl::InternalError(absl::StrCat("unresolved dependencies of ", file.name()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<const google::protobuf::ServiceDescriptor*> ReflectionClient::Describe(
    const std::string& service) {
  if (const auto* found = pool_.FindServiceByName(service); found != nullptr) return found;
  absl::StatusOr<std::string> response = Ask(Field(kFileContainingSymbol, service));
  if (!response.ok()) return response.status();
  if (absl::Status added = AddFiles(*response, 0); !added.ok()) return added;
  const auto* found = pool_.FindServiceByName(service);
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("no service ", service));
  return found;
}

grpc::Status ReflectionClient::Call(const std::string& service, const std::string& method,
                                    const std::string& json_request, std::string* json_response) {
  absl::StatusOr<const google::protobuf::ServiceDescriptor*> described = Describe(service);
  if (!described.ok()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, std::string(described.status().message()));
  }
  const google::protobuf::MethodDescriptor* descriptor = (*described)->FindMethodByName(method);
  if (descriptor == nullptr) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such method");
  std::unique_ptr<google::protobuf::Message> request(
      factory_.GetPrototype(descriptor->input_type())->New());
  if (!google::protobuf::util::JsonStringToMessage(json_request, request.get()).ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the JSON does not fit the request type");
  }
  std::string bytes;
  grpc::Status status =
      RawGrpcCall(channel_, absl::StrCat("/", service, "/", method), request->SerializeAsString(),
                  &bytes, /*cancel_after_first=*/descriptor->server_streaming());
  if (!status.ok()) return status;
  std::unique_ptr<google::protobuf::Message> response(
      factory_.GetPrototype(descriptor->output_type())->New());
  if (!response->ParseFromString(bytes)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "the response does not parse");
  }
  json_response->clear();
  if (!google::protobuf::util::MessageToJsonString(*response, json_response).ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "the response does not print as JSON");
  }
  return grpc::Status::OK;
}

}  // namespace pushbroker::testing
