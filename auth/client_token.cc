#include "auth/client_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace pushbroker {
namespace {

constexpr size_t kMaxTokenBytes = 8192;

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("client token rejected: ", why));
}

// Base64url without padding, as JWS writes it; anything else is malformed.
bool DecodeSegment(absl::string_view segment, std::string* out) {
  if (segment.empty() || segment.find_first_of("=+/") != absl::string_view::npos) return false;
  return absl::WebSafeBase64Unescape(segment, out);
}

std::string EncodeSegment(absl::string_view bytes) {
  std::string out;
  absl::WebSafeBase64Escape(bytes, &out);
  return out;
}

}  // namespace

absl::StatusOr<ClientToken> VerifyClientToken(absl::string_view token,
                                              const std::vector<std::string>& secrets,
                                              absl::Time now, absl::Duration leeway) {
  if (token.empty()) return Unauthenticated("no token");
  if (token.size() > kMaxTokenBytes) return Unauthenticated("token too long");
  const size_t first_dot = token.find('.');
  const size_t second_dot =
      first_dot == absl::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == absl::string_view::npos ||
      token.find('.', second_dot + 1) != absl::string_view::npos) {
    return Unauthenticated("malformed: a JWT has three dot-separated parts");
  }
  std::string header_json, payload_json, signature;
  if (!DecodeSegment(token.substr(0, first_dot), &header_json) ||
      !DecodeSegment(token.substr(first_dot + 1, second_dot - first_dot - 1), &payload_json)) {
    return Unauthenticated("malformed: a part is not base64url");
  }
  const nlohmann::json header = nlohmann::json::parse(header_json, nullptr, false);
  if (!header.is_object()) return Unauthenticated("malformed: the header is not a JSON object");
  // The algorithm is fixed, never taken from the token: "none", HS512 and
  // RS256 (the key-confusion attack) all fail here.
  if (!header.contains("alg") || header["alg"] != "HS256") {
    return Unauthenticated("the algorithm must be HS256");
  }
  if (header.contains("typ") && header["typ"] != "JWT") return Unauthenticated("typ must be JWT");
  if (header.contains("crit")) return Unauthenticated("unsupported critical header");

  const absl::string_view signed_part = token.substr(0, second_dot);
  if (!DecodeSegment(token.substr(second_dot + 1), &signature) || signature.size() != 32) {
    return Unauthenticated("malformed signature");
  }
  bool verified = false;
  for (const std::string& secret : secrets) {
    const std::string expected = HmacSha256(secret, signed_part);
    // Every secret is tried, whatever matched, so timing tells nothing.
    verified |= CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) == 0;
  }
  if (!verified) return Unauthenticated("bad signature");

  const nlohmann::json payload = nlohmann::json::parse(payload_json, nullptr, false);
  if (!payload.is_object()) return Unauthenticated("malformed: the payload is not a JSON object");
  if (!payload.contains("sub") || !payload["sub"].is_string() ||
      payload["sub"].get<std::string>().empty()) {
    return Unauthenticated("the sub claim (the client id) is missing");
  }
  if (!payload.contains("exp") || !payload["exp"].is_number()) {
    return Unauthenticated("the exp claim is missing");
  }
  const double exp = payload["exp"].get<double>();
  if (!std::isfinite(exp) || exp < 0 || exp > 1e11)
    return Unauthenticated("the exp claim is out of range");
  const absl::Time expires_at = absl::FromUnixSeconds(static_cast<int64_t>(exp));
  if (expires_at + leeway < now) return Unauthenticated("expired");
  if (payload.contains("nbf")) {
    if (!payload["nbf"].is_number()) return Unauthenticated("the nbf claim is not a number");
    const double nbf = payload["nbf"].get<double>();
    if (!std::isfinite(nbf) || absl::FromUnixSeconds(static_cast<int64_t>(nbf)) > now + leeway) {
      return Unauthenticated("not valid yet (nbf)");
    }
  }
  return ClientToken{payload["sub"].get<std::string>(), expires_at};
}

std::string SignClientToken(absl::string_view client_id, absl::Time issued_at,
                            absl::Time expires_at, absl::string_view secret) {
  const std::string header = EncodeSegment(R"({"alg":"HS256","typ":"JWT"})");
  const nlohmann::json claims = {{"sub", std::string(client_id)},
                                 {"iat", absl::ToUnixSeconds(issued_at)},
                                 {"exp", absl::ToUnixSeconds(expires_at)}};
  const std::string signed_part = absl::StrCat(header, ".", EncodeSegment(claims.dump()));
  return absl::StrCat(signed_part, ".", EncodeSegment(HmacSha256(secret, signed_part)));
}

}  // namespace pushbroker
