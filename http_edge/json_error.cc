#include "http_edge/json_error.h"

#include <string>

#include "nlohmann/json.hpp"

namespace pushbroker {

std::string JsonErrorBody(int http_status, absl::string_view code, absl::string_view message) {
  nlohmann::json body = {
      {"error", std::string(code)}, {"message", std::string(message)}, {"status", http_status}};
  // Replace invalid UTF-8 rather than throw: messages may quote client input.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void SetJsonError(httplib::Response& res, int http_status, absl::string_view code,
                  absl::string_view message) {
  res.status = http_status;
  res.set_content(JsonErrorBody(http_status, code, message), "application/json");
}

void SetJsonError(httplib::Response& res, const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return SetJsonError(res, 400, "invalid_argument", status.message());
    case absl::StatusCode::kNotFound:
      return SetJsonError(res, 404, "not_found", status.message());
    case absl::StatusCode::kResourceExhausted:
      return SetJsonError(res, 429, "resource_exhausted", status.message());
    case absl::StatusCode::kUnavailable:
      res.set_header("Retry-After", "1");
      return SetJsonError(res, 503, "unavailable", status.message());
    case absl::StatusCode::kUnauthenticated:
      return SetJsonError(res, 401, "unauthenticated", status.message());
    case absl::StatusCode::kPermissionDenied:
      return SetJsonError(res, 403, "permission_denied", status.message());
    default:
      return SetJsonError(res, 500, "internal", status.message());
  }
}

}  // namespace pushbroker
