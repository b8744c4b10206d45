// ApiKeys: the publisher credentials of --api_keys_file. Every
// pushbroker.v1.Broker call must carry `authorization: Bearer <key>` with one
// of them. Keys are kept as SHA-256 digests and compared in constant time.
#ifndef PUSH_BROKER_AUTH_API_KEYS_H_
#define PUSH_BROKER_AUTH_API_KEYS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auth/secrets_file.h"

namespace pushbroker {

// Safe for concurrent access from multiple threads.
class ApiKeys {
 public:
  // `path` empty: no keys are required (open). Keys need at least 16 bytes.
  static absl::StatusOr<std::unique_ptr<ApiKeys>> Open(const std::string& path);

  bool required() const { return file_ != nullptr; }
  SecretsFile* secrets_file() { return file_.get(); }

  // Who is calling: "" when keys are not required, else a short id of the
  // key (hex of its digest's first bytes, safe to log) when `authorization`
  // is "Bearer <a listed key>"; UNAUTHENTICATED otherwise.
  absl::StatusOr<std::string> Identify(absl::string_view authorization) const;

 private:
  explicit ApiKeys(std::unique_ptr<SecretsFile> file) : file_(std::move(file)) {}
  const std::unique_ptr<SecretsFile> file_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_AUTH_API_KEYS_H_
