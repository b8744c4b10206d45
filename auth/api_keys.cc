#include "auth/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "auth/bearer.h"
#include "broker/status_macros.h"

namespace pushbroker {
namespace {

std::string Sha256(absl::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ApiKeys>> ApiKeys::Open(const std::string& path) {
  std::unique_ptr<SecretsFile> file;
  if (!path.empty()) {
    ASSIGN_OR_RETURN(file, SecretsFile::Open(path, /*min_bytes=*/16));
  }
  return std::unique_ptr<ApiKeys>(new ApiKeys(std::move(file)));
}

absl::StatusOr<std::string> ApiKeys::Identify(absl::string_view authorization) const {
  if (!required()) return std::string();
  const std::optional<absl::string_view> key = BearerToken(authorization);
  if (!key.has_value()) {
    return absl::UnauthenticatedError(
        "this broker needs an API key: send metadata 'authorization: Bearer <key>'");
  }
  // Digests have one length, so comparing them in constant time hides both
  // the key and its length.
  const std::string presented = Sha256(*key);
  bool match = false;
  for (const std::string& key : *file_->current()) {
    match |= CRYPTO_memcmp(Sha256(key).data(), presented.data(), presented.size()) == 0;
  }
  if (!match) return absl::UnauthenticatedError("the API key is not valid");
  return absl::BytesToHexString(absl::string_view(presented).substr(0, 6));
}

}  // namespace pushbroker
