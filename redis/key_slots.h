// Where a key lives: Redis Cluster's hash slot (CRC16/XMODEM of the key, or
// of its {hash tag}, mod 16384), and push-broker's 1024 fixed partitions of
// client ids, each with a short hash tag chosen so that partition P's keys
// land in slot 16·P: partitions then spread evenly over any contiguous split
// of the slots among masters (docs/redis.md, "Key layout"). Pure functions;
// safe from any thread.
#ifndef PUSH_BROKER_REDIS_KEY_SLOTS_H_
#define PUSH_BROKER_REDIS_KEY_SLOTS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace pushbroker::redis {

inline constexpr int kClusterSlots = 16384;
inline constexpr int kPartitions = 1024;

// CRC16/XMODEM (poly 0x1021, init 0), as Redis Cluster computes it.
uint16_t Crc16(absl::string_view data);

// The slot of `key`: of the text between the first '{' and the next '}'
// when that is not empty, else of the whole key.
int HashSlot(absl::string_view key);

// The partition of a client id: FNV-1a (32-bit) of its bytes, mod 1024.
int PartitionOf(absl::string_view client_id);

// The hash tag of partition `p` (0..1023): the first lowercase base-36
// string, shortest first, whose slot is 16·p. Fixed forever once data
// exists: keys of partition p are "pb:{<tag>}:...".
const std::string& PartitionTag(int partition);

}  // namespace pushbroker::redis

#endif  // PUSH_BROKER_REDIS_KEY_SLOTS_H_
