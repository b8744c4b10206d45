#include "redis/cluster_shards.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "redis/key_slots.h"

namespace pushbroker::redis {
namespace {

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("CLUSTER SHARDS reply: ", why));
}

// An integer reply, or a string of digits (some versions send either).
bool AsInt(const RespValue& value, int64_t* out) {
  if (value.type == RespValue::Type::kInteger) {
    *out = value.integer;
    return true;
  }
  return absl::SimpleAtoi(value.text, out);
}

const RespValue* Field(const RespValue& map, absl::string_view name) {
  for (size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    if (map.elements[i].text == name) return &map.elements[i + 1];
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::vector<ClusterShard>> ParseClusterShards(const RespValue& reply) {
  if (reply.type != RespValue::Type::kArray) return Malformed("not an array");
  std::vector<ClusterShard> shards;
  for (const RespValue& entry : reply.elements) {
    const RespValue* slots = Field(entry, "slots");
    const RespValue* nodes = Field(entry, "nodes");
    if (slots == nullptr || nodes == nullptr || slots->elements.size() % 2 != 0) {
      return Malformed("a shard without slots and nodes");
    }
    ClusterShard shard;
    for (size_t i = 0; i < slots->elements.size(); i += 2) {
      int64_t start = 0, end = 0;
      if (!AsInt(slots->elements[i], &start) || !AsInt(slots->elements[i + 1], &end) || start < 0 ||
          end < start || end >= kClusterSlots) {
        return Malformed("a slot range out of 0..16383");
      }
      shard.slots.emplace_back(static_cast<int>(start), static_cast<int>(end));
    }
    for (const RespValue& node : nodes->elements) {
      const RespValue* ip = Field(node, "ip");
      const RespValue* port = Field(node, "port");
      const RespValue* role = Field(node, "role");
      const RespValue* health = Field(node, "health");
      int64_t port_number = 0;
      if (ip == nullptr || port == nullptr || !AsInt(*port, &port_number)) {
        return Malformed("a node without ip and port");
      }
      std::string address = absl::StrCat(ip->text, ":", port_number);
      const bool online = health == nullptr || health->text == "online";
      shard.all_online = shard.all_online && online;
      if (role != nullptr && role->text == "master" && online) {
        shard.master = address;
        shard.nodes.insert(shard.nodes.begin(), std::move(address));
      } else {
        shard.nodes.push_back(std::move(address));
      }
    }
    shards.push_back(std::move(shard));
  }
  return shards;
}

SlotMap SlotMap::Standalone(const std::string& address) {
  SlotMap map;
  map.masters = {address};
  map.owner_of_slot.assign(kClusterSlots, 0);
  return map;
}

SlotMap SlotMap::FromShards(const std::vector<ClusterShard>& shards) {
  SlotMap map;
  map.cluster = true;
  map.owner_of_slot.assign(kClusterSlots, -1);
  for (const ClusterShard& shard : shards) {
    if (shard.master.empty() || shard.slots.empty()) continue;
    auto found = std::find(map.masters.begin(), map.masters.end(), shard.master);
    const int index = static_cast<int>(found - map.masters.begin());
    if (found == map.masters.end()) map.masters.push_back(shard.master);
    for (const auto& [start, end] : shard.slots) {
      std::fill(map.owner_of_slot.begin() + start, map.owner_of_slot.begin() + end + 1, index);
    }
  }
  return map;
}

const std::string& SlotMap::MasterOf(int slot) const {
  static const std::string* const kNone = new std::string();
  const int owner =
      slot >= 0 && slot < static_cast<int>(owner_of_slot.size()) ? owner_of_slot[slot] : -1;
  return owner < 0 ? *kNone : masters[owner];
}

void SlotMap::Move(int slot, const std::string& address) {
  if (slot < 0 || slot >= static_cast<int>(owner_of_slot.size())) return;
  auto found = std::find(masters.begin(), masters.end(), address);
  if (found == masters.end()) masters.push_back(address);
  owner_of_slot[slot] =
      static_cast<int>(std::find(masters.begin(), masters.end(), address) - masters.begin());
}

bool SlotMap::operator==(const SlotMap& other) const {
  for (int slot = 0; slot < kClusterSlots; ++slot) {
    if (MasterOf(slot) != other.MasterOf(slot)) return false;
  }
  return true;
}

}  // namespace pushbroker::redis
