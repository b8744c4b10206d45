#include "auth/client_authenticator.h"

#include "absl/strings/str_cat.h"
#include "broker/status_macros.h"

namespace pushbroker {

absl::StatusOr<std::unique_ptr<ClientAuthenticator>> ClientAuthenticator::Create(
    ClientAuthOptions options) {
  std::unique_ptr<SecretsFile> secrets;
  if (!options.secret_file.empty()) {
    ASSIGN_OR_RETURN(secrets, SecretsFile::Open(options.secret_file, /*min_bytes=*/32));
  }
  return std::unique_ptr<ClientAuthenticator>(
      new ClientAuthenticator(std::move(options), std::move(secrets)));
}

absl::StatusOr<ClientToken> ClientAuthenticator::Verify(absl::string_view token,
                                                        absl::Time now) const {
  if (!enabled()) return absl::FailedPreconditionError("client tokens are off");
  return VerifyClientToken(token, *secrets_->current(), now, options_.leeway);
}

absl::StatusOr<std::string> ClientAuthenticator::Issue(absl::string_view client_id,
                                                       absl::Duration ttl, absl::Time now) const {
  if (!enabled()) {
    return absl::FailedPreconditionError(
        "client tokens are off: start the broker with --client_token_secret_file");
  }
  if (ttl <= absl::ZeroDuration() || ttl > options_.max_ttl) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl must be positive and at most --client_token_max_ttl (",
                     absl::FormatDuration(options_.max_ttl), ")"));
  }
  return SignClientToken(client_id, now, now + ttl, secrets_->current()->front());
}

}  // namespace pushbroker
