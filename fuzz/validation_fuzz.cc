// Properties: validation never crashes; an accepted client id or topic holds
// only [A-Za-z0-9._:@-]; an accepted event type holds no CR, LF or NUL; an
// accepted text is valid UTF-8 by an independent check (decode code points).
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "broker/validation.h"

namespace {

bool IndependentUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      extra = 0;
      cp = c;
    } else if (c >= 0xC2 && c <= 0xDF) {  // 0xC0 and 0xC1 only start overlongs
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char d = s[i + k];
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const pushbroker::ValidationLimits limits;
  if (pushbroker::ValidateClientId(text, limits).ok() ||
      pushbroker::ValidateTopic(text, limits).ok()) {
    if (text.empty() || text.size() > 128) std::abort();
    for (char c : text) {
      const bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                           c == ':' || c == '@' || c == '-';
      if (!allowed) std::abort();
    }
  }
  if (pushbroker::ValidateEventType(text, limits).ok()) {
    if (text.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) std::abort();
  }
  if (pushbroker::IsValidUtf8(text) != IndependentUtf8(text)) std::abort();
  return 0;
}
