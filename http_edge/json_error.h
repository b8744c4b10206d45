// The HTTP edge's error format: a JSON body `{"error": CODE, "message": TEXT,
// "status": N}` with a fitting status.
#ifndef PUSH_BROKER_HTTP_EDGE_JSON_ERROR_H_
#define PUSH_BROKER_HTTP_EDGE_JSON_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "httplib.h"

namespace pushbroker {

void SetJsonError(httplib::Response& res, int http_status, absl::string_view code,
                  absl::string_view message);

// The same body as text, for answers written outside httplib.
std::string JsonErrorBody(int http_status, absl::string_view code, absl::string_view message);

// Maps a core status to an HTTP status and JSON error.
void SetJsonError(httplib::Response& res, const absl::Status& status);

}  // namespace pushbroker

#endif  // PUSH_BROKER_HTTP_EDGE_JSON_ERROR_H_
