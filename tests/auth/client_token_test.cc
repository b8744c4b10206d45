#include "auth/client_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace pushbroker {
namespace {

using ::pushbroker::testing::IsOk;
using ::pushbroker::testing::StatusIs;

const std::string kSecret = "0123456789abcdef0123456789abcdef-first";
const std::string kOther = "0123456789abcdef0123456789abcdef-other";
const absl::Time kNow = absl::FromUnixSeconds(1800000000);
const absl::Duration kLeeway = absl::Seconds(30);

std::string B64(absl::string_view s) {
  std::string out;
  absl::WebSafeBase64Escape(s, &out);
  return out;
}

// A token with the given header and payload JSON, signed (or not) by hand.
std::string Forge(const std::string& header, const std::string& payload,
                  const std::string& signature) {
  return absl::StrCat(B64(header), ".", B64(payload), ".", signature);
}

absl::StatusCode Code(const std::string& token,
                      const std::vector<std::string>& secrets = {kSecret}) {
  return VerifyClientToken(token, secrets, kNow, kLeeway).status().code();
}

TEST(ClientTokenTest, SignedTokensVerifyAndCarryTheClient) {
  const std::string token = SignClientToken("alice", kNow, kNow + absl::Hours(1), kSecret);
  EXPECT_EQ(token.find('='), std::string::npos);  // base64url without padding
  auto verified = VerifyClientToken(token, {kSecret}, kNow, kLeeway);
  ASSERT_THAT(verified, IsOk());
  EXPECT_EQ(verified->client_id, "alice");
  EXPECT_EQ(verified->expires_at, kNow + absl::Hours(1));
}

TEST(ClientTokenTest, RotationVerifiesWithAnyListedSecret) {
  const std::string old_token = SignClientToken("alice", kNow, kNow + absl::Hours(1), kOther);
  EXPECT_TRUE(VerifyClientToken(old_token, {kSecret, kOther}, kNow, kLeeway).ok());
  EXPECT_EQ(Code(old_token, {kSecret}), absl::StatusCode::kUnauthenticated);
}

TEST(ClientTokenTest, ExpiryHonoursTheLeeway) {
  const std::string token = SignClientToken("alice", kNow, kNow, kSecret);
  EXPECT_TRUE(VerifyClientToken(token, {kSecret}, kNow + absl::Seconds(29), kLeeway).ok());
  auto late = VerifyClientToken(token, {kSecret}, kNow + absl::Seconds(31), kLeeway);
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
}

TEST(ClientTokenTest, RejectsEveryKindOfForgery) {
  const std::string good = SignClientToken("alice", kNow, kNow + absl::Hours(1), kSecret);
  const std::string payload = R"({"sub":"alice","exp":1900000000})";
  const size_t dot = good.rfind('.');
  std::string tampered_payload =
      absl::StrCat(B64(R"({"alg":"HS256","typ":"JWT"})"), ".",
                   B64(R"({"sub":"bob","exp":1900000000})"), good.substr(dot));
  struct Case {
    const char* name;
    std::string token;
  };
  const std::vector<Case> cases = {
      {"empty", ""},
      {"two parts", good.substr(0, dot)},
      {"four parts", good + ".x"},
      {"alg none, no signature", Forge(R"({"alg":"none","typ":"JWT"})", payload, "")},
      {"alg none with a signature", Forge(R"({"alg":"none"})", payload, good.substr(dot + 1))},
      {"HS512", Forge(R"({"alg":"HS512"})", payload, good.substr(dot + 1))},
      {"RS256 (key confusion)", Forge(R"({"alg":"RS256"})", payload, good.substr(dot + 1))},
      {"lower-case alg", Forge(R"({"alg":"hs256"})", payload, good.substr(dot + 1))},
      {"payload swapped under a valid signature", tampered_payload},
      {"signed with another secret", SignClientToken("alice", kNow, kNow + absl::Hours(1), kOther)},
      {"signature truncated", good.substr(0, good.size() - 2)},
      {"padding in a part", good + "=="},
      {"standard base64 characters", absl::StrCat(good.substr(0, dot), ".+/+/")},
      {"header not JSON",
       absl::StrCat(B64("not json"), ".", B64(payload), ".", good.substr(dot + 1))},
      {"header an array", Forge("[1]", payload, good.substr(dot + 1))},
      {"huge", std::string(10000, 'a')},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Code(c.token), absl::StatusCode::kUnauthenticated) << c.name;
  }
}

// Signs arbitrary claims with the real key (HMAC-SHA256 computed here with
// OpenSSL), to reach the checks behind the signature.
std::string SignClaims(const std::string& claims) {
  const std::string signed_part =
      absl::StrCat(B64(R"({"alg":"HS256","typ":"JWT"})"), ".", B64(claims));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
       &length);
  return absl::StrCat(signed_part, ".", B64(std::string(reinterpret_cast<char*>(mac), length)));
}

TEST(ClientTokenTest, ClaimsMustBeComplete) {
  EXPECT_TRUE(
      VerifyClientToken(SignClaims(R"({"sub":"alice","exp":1900000000})"), {kSecret}, kNow, kLeeway)
          .ok());
  for (const char* claims :
       {R"({"exp":1900000000})", R"({"sub":"","exp":1900000000})", R"({"sub":42,"exp":1900000000})",
        R"({"sub":"alice"})", R"({"sub":"alice","exp":"1900000000"})",
        R"({"sub":"alice","exp":1e300})", R"({"sub":"alice","exp":1900000000,"nbf":1900000000})",
        R"("alice")"}) {
    EXPECT_EQ(Code(SignClaims(claims)), absl::StatusCode::kUnauthenticated) << claims;
  }
}

}  // namespace
}  // namespace pushbroker
