#include "auth/client_authenticator.h"

#include <sys/stat.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "broker/status_macros.h"

namespace pushbroker {
namespace {

absl::StatusOr<int64_t> FileStamp(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot stat ", path));
  }
  return static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec +
         static_cast<int64_t>(info.st_size) * 7919;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ReadSecretsFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read the secrets file ", path));
  std::vector<std::string> secrets;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    const absl::string_view secret = absl::StripAsciiWhitespace(line);
    if (secret.empty() || secret.front() == '#') continue;
    if (secret.size() < 32) {
      return absl::InvalidArgumentError(absl::StrCat(path, " line ", number, ": a secret needs at least 32 bytes"));
    }
    secrets.emplace_back(secret);
  }
  if (secrets.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no secret"));
  return secrets;
}

absl::StatusOr<std::unique_ptr<ClientAuthenticator>> ClientAuthenticator::Create(ClientAuthOptions options) {
  std::unique_ptr<ClientAuthenticator> auth(new ClientAuthenticator(std::move(options)));
  if (auth->enabled()) RETURN_IF_ERROR(auth->Reload());
  return auth;
}

absl::Status ClientAuthenticator::Reload() {
  if (!enabled()) return absl::OkStatus();
  ASSIGN_OR_RETURN(const int64_t stamp, FileStamp(options_.secret_file));
  ASSIGN_OR_RETURN(std::vector<std::string> secrets, ReadSecretsFile(options_.secret_file));
  absl::MutexLock lock(&mu_);
  secrets_ = std::move(secrets);
  file_stamp_ = stamp;
  return absl::OkStatus();
}

absl::StatusOr<bool> ClientAuthenticator::ReloadIfChanged() {
  if (!enabled()) return false;
  ASSIGN_OR_RETURN(const int64_t stamp, FileStamp(options_.secret_file));
  {
    absl::MutexLock lock(&mu_);
    if (stamp == file_stamp_) return false;
  }
  RETURN_IF_ERROR(Reload());
  return true;
}

absl::StatusOr<ClientToken> ClientAuthenticator::Verify(absl::string_view token, absl::Time now) const {
  std::vector<std::string> secrets;
  {
    absl::MutexLock lock(&mu_);
    secrets = secrets_;
  }
  return VerifyClientToken(token, secrets, now, options_.leeway);
}

absl::StatusOr<std::string> ClientAuthenticator::Issue(absl::string_view client_id, absl::Duration ttl,
                                                       absl::Time now) const {
  if (!enabled()) {
    return absl::FailedPreconditionError("client tokens are off: start the broker with --client_token_secret_file");
  }
  if (ttl <= absl::ZeroDuration() || ttl > options_.max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat("ttl must be positive and at most --client_token_max_ttl (",
                                                   absl::FormatDuration(options_.max_ttl), ")"));
  }
  absl::MutexLock lock(&mu_);
  return SignClientToken(client_id, now, now + ttl, secrets_.front());
}

}  // namespace pushbroker
