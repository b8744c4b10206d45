// ClientAuthenticator: the secrets that sign and verify client tokens, read
// from --client_token_secret_file and re-read on SIGHUP or when the file
// changes. One secret per line; the first signs, all verify (rotation).
#ifndef PUSH_BROKER_AUTH_CLIENT_AUTHENTICATOR_H_
#define PUSH_BROKER_AUTH_CLIENT_AUTHENTICATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "auth/client_token.h"

namespace pushbroker {

struct ClientAuthOptions {
  std::string secret_file;  // empty: clients are not authenticated (open mode)
  absl::Duration leeway = absl::Seconds(30);  // clock skew allowed on exp and nbf
  absl::Duration max_ttl = absl::Hours(24);   // longest token IssueClientToken signs
};

// Reads a secrets file: one secret per line, blank lines and lines starting
// with '#' skipped, each at least 32 bytes (HS256 wants a 256-bit key).
absl::StatusOr<std::vector<std::string>> ReadSecretsFile(const std::string& path);

// Safe for concurrent access from multiple threads.
class ClientAuthenticator {
 public:
  // Reads the secrets file now; an unreadable or invalid file is an error.
  static absl::StatusOr<std::unique_ptr<ClientAuthenticator>> Create(ClientAuthOptions options);

  bool enabled() const { return !options_.secret_file.empty(); }

  absl::StatusOr<ClientToken> Verify(absl::string_view token, absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // FAILED_PRECONDITION when disabled; INVALID_ARGUMENT for a ttl out of range.
  absl::StatusOr<std::string> Issue(absl::string_view client_id, absl::Duration ttl,
                                    absl::Time now) const ABSL_LOCKS_EXCLUDED(mu_);

  // Re-reads the file. On error the old secrets stay in force.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);
  // Reloads when the file's modification time or size changed. Returns
  // whether it reloaded.
  absl::StatusOr<bool> ReloadIfChanged() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit ClientAuthenticator(ClientAuthOptions options) : options_(std::move(options)) {}

  const ClientAuthOptions options_;
  mutable absl::Mutex mu_;
  std::vector<std::string> secrets_ ABSL_GUARDED_BY(mu_);
  int64_t file_stamp_ ABSL_GUARDED_BY(mu_) = -1;  // mtime in ns, mixed with size
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_AUTH_CLIENT_AUTHENTICATOR_H_
