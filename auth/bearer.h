// BearerToken: the credential of an `Authorization: Bearer <token>` value,
// as RFC 7235 writes it: the scheme in any case, then one or more spaces or
// tabs. A pure function; safe from any thread.
#ifndef PUSH_BROKER_AUTH_BEARER_H_
#define PUSH_BROKER_AUTH_BEARER_H_

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace pushbroker {

// The token, or nullopt when `authorization` is not a Bearer credential.
inline std::optional<absl::string_view> BearerToken(absl::string_view authorization) {
  constexpr absl::string_view kScheme = "Bearer";
  if (!absl::StartsWithIgnoreCase(authorization, kScheme)) return std::nullopt;
  absl::string_view rest = authorization.substr(kScheme.size());
  if (rest.empty() || (rest.front() != ' ' && rest.front() != '\t')) return std::nullopt;
  rest = absl::StripAsciiWhitespace(rest);
  if (rest.empty()) return std::nullopt;
  return rest;
}

}  // namespace pushbroker

#endif  // PUSH_BROKER_AUTH_BEARER_H_
