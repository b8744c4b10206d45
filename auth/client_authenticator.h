// ClientAuthenticator: signs and verifies client tokens with the secrets of
// --client_token_secret_file (the first signs, all verify: rotation).
#ifndef PUSH_BROKER_AUTH_CLIENT_AUTHENTICATOR_H_
#define PUSH_BROKER_AUTH_CLIENT_AUTHENTICATOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/client_token.h"
#include "auth/secrets_file.h"

namespace pushbroker {

struct ClientAuthOptions {
  std::string secret_file;                    // empty: clients are not authenticated (open mode)
  absl::Duration leeway = absl::Seconds(30);  // clock skew allowed on exp and nbf
  absl::Duration max_ttl = absl::Hours(24);   // longest token IssueClientToken signs
};

// Safe for concurrent access from multiple threads.
class ClientAuthenticator {
 public:
  // Reads the secrets file now (HS256 wants 32-byte keys); an unreadable or
  // invalid file is an error.
  static absl::StatusOr<std::unique_ptr<ClientAuthenticator>> Create(ClientAuthOptions options);

  bool enabled() const { return secrets_ != nullptr; }
  // The secrets file, to reload it; null when disabled.
  SecretsFile* secrets_file() { return secrets_.get(); }

  absl::StatusOr<ClientToken> Verify(absl::string_view token, absl::Time now) const;
  // FAILED_PRECONDITION when disabled; INVALID_ARGUMENT for a ttl out of range.
  absl::StatusOr<std::string> Issue(absl::string_view client_id, absl::Duration ttl,
                                    absl::Time now) const;

 private:
  ClientAuthenticator(ClientAuthOptions options, std::unique_ptr<SecretsFile> secrets)
      : options_(std::move(options)), secrets_(std::move(secrets)) {}

  const ClientAuthOptions options_;
  const std::unique_ptr<SecretsFile> secrets_;
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_AUTH_CLIENT_AUTHENTICATOR_H_
