#include "redis/key_slots.h"

#include <array>
#include <vector>

namespace pushbroker::redis {
namespace {

// The tags, found once: for each slot that is a multiple of 16, the first
// base-36 string (by length, then value) that hashes there. Strings of up
// to three characters cover every one of the 1024 slots.
std::vector<std::string> FindPartitionTags() {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::vector<std::string> tags(kPartitions);
  int found = 0;
  for (int length = 1; length <= 4 && found < kPartitions; ++length) {
    std::string candidate(length, '0');
    std::vector<int> digits(length, 0);
    while (true) {
      for (int i = 0; i < length; ++i) candidate[i] = kDigits[digits[i]];
      const int slot = Crc16(candidate) % kClusterSlots;
      if (slot % (kClusterSlots / kPartitions) == 0) {
        std::string& tag = tags[slot / (kClusterSlots / kPartitions)];
        if (tag.empty()) {
          tag = candidate;
          ++found;
        }
      }
      int i = length - 1;  // next candidate of this length, last digit fastest
      while (i >= 0 && ++digits[i] == 36) digits[i--] = 0;
      if (i < 0) break;
    }
  }
  return tags;
}

}  // namespace

uint16_t Crc16(absl::string_view data) {
  uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc ^= static_cast<uint16_t>(byte) << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc;
}

int HashSlot(absl::string_view key) {
  const size_t open = key.find('{');
  if (open != absl::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != absl::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) % kClusterSlots;
}

int PartitionOf(absl::string_view client_id) {
  uint32_t hash = 2166136261u;
  for (unsigned char byte : client_id) {
    hash ^= byte;
    hash *= 16777619u;
  }
  return static_cast<int>(hash % kPartitions);
}

const std::string& PartitionTag(int partition) {
  static const std::vector<std::string>* const kTags =
      new std::vector<std::string>(FindPartitionTags());
  return (*kTags)[partition];
}

}  // namespace pushbroker::redis
