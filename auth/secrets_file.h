// SecretsFile: a file of secrets, one per line, that can be re-read while the
// broker runs (on SIGHUP, or when its modification time or size changes).
// Blank lines and lines starting with '#' are skipped.
#ifndef PUSH_BROKER_AUTH_SECRETS_FILE_H_
#define PUSH_BROKER_AUTH_SECRETS_FILE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace pushbroker {

// Reads `path`; every secret must have at least `min_bytes`.
absl::StatusOr<std::vector<std::string>> ReadSecretsFile(const std::string& path, size_t min_bytes);

// Safe for concurrent access from multiple threads.
class SecretsFile {
 public:
  using Secrets = std::shared_ptr<const std::vector<std::string>>;

  // Reads the file now; an unreadable or invalid file is an error.
  static absl::StatusOr<std::unique_ptr<SecretsFile>> Open(std::string path, size_t min_bytes);

  // The secrets in force; a snapshot callers may keep while they use it.
  Secrets current() const ABSL_LOCKS_EXCLUDED(mu_);
  const std::string& path() const { return path_; }

  // Re-reads the file. On error the secrets in force stay.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);
  // Reloads when the file changed; returns whether it did.
  absl::StatusOr<bool> ReloadIfChanged() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  SecretsFile(std::string path, size_t min_bytes) : path_(std::move(path)), min_bytes_(min_bytes) {}

  const std::string path_;
  const size_t min_bytes_;
  mutable absl::Mutex mu_;
  Secrets secrets_ ABSL_GUARDED_BY(mu_);
  int64_t stamp_ ABSL_GUARDED_BY(mu_) = -1;  // mtime in ns, mixed with size
};

}  // namespace pushbroker

#endif  // PUSH_BROKER_AUTH_SECRETS_FILE_H_
