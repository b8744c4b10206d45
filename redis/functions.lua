#!lua name=pb1
-- push-broker's Redis Functions (library pb1): every write to a mailbox runs
-- here, in one call, so offsets are assigned +1 with no gap and no reuse by
-- the one master that owns the mailbox's slot. docs/redis.md has the design.
--
-- A mailbox is two keys with its partition's hash tag:
--   meta  STRING  "<epoch> <next> <first> <bytes> <front_exp> <fence> <delivered>"
--   list  LIST    entries "<offset> <published_ms> <expires_ms> <bytes> <event_len> <event><data>"
-- epoch is lowercase hex; offsets are decimal; list index = offset - first.
-- fence is the run_id of the Redis process that last wrote the meta: under
-- another process (a failover or a restart may have lost acknowledged
-- writes) the mailbox takes a new epoch, so a reader holding an id of the
-- old one gets a reset instead of a silent gap.

local function load_meta(key)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  local f = {}
  for word in string.gmatch(raw, '%S+') do f[#f + 1] = word end
  return {epoch = f[1], next = tonumber(f[2]), first = tonumber(f[3]), bytes = tonumber(f[4]),
          front_exp = tonumber(f[5]), fence = f[6], delivered = tonumber(f[7])}
end

local function save_meta(key, m, ttl_ms)
  redis.call('SET', key, table.concat({m.epoch, m.next, m.first, m.bytes, m.front_exp, m.fence,
                                       m.delivered}, ' '), 'PX', ttl_ms)
end

-- The entry's header fields: offset, expires_ms, bytes.
local function entry_header(entry)
  local off, _, exp, bytes = string.match(entry, '^(%d+) (%d+) (%d+) (%d+) ')
  return tonumber(off), tonumber(exp), tonumber(bytes)
end

-- The front entry's expiry, or 0 when the list is empty.
local function front_expiry(list)
  local front = redis.call('LINDEX', list, 0)
  if not front then return 0 end
  local _, exp = entry_header(front)
  return exp
end

local function pop_front(m, list, counts, reason)
  local entry = redis.call('LPOP', list)
  if not entry then return end
  local _, _, bytes = entry_header(entry)
  m.first = m.first + 1
  m.bytes = m.bytes - bytes
  counts[reason] = counts[reason] + 1
end

-- Drops expired entries from the front (the newest expiring first is kept
-- until its turn, as the memory store does).
local function drop_expired(m, list, now, counts)
  while m.front_exp > 0 and m.front_exp <= now and m.next > m.first do
    pop_front(m, list, counts, 'expired')
    m.front_exp = front_expiry(list)
  end
end

-- The mailbox as the caller may use it: created when missing (and `create`),
-- re-epoched when written under another Redis process. nil: missing.
local function open_mailbox(meta_key, list, fence, candidate, create)
  local m = load_meta(meta_key)
  if not m then
    if not create then return nil end
    redis.call('DEL', list)  -- a list without its meta is an old incarnation's
    return {epoch = candidate, next = 1, first = 1, bytes = 0, front_exp = 0, fence = fence,
            delivered = 0}, true
  end
  if fence ~= '' and m.fence ~= fence then
    -- Entries retained keep their offsets under the new epoch, so this
    -- incarnation starts at `first`.
    m.epoch = candidate
    m.fence = fence
    m.delivered = m.first - 1
  end
  return m, false
end

-- pb1_append: one message to the mailboxes of one partition.
-- KEYS  clients, then (meta, list) per mailbox
-- ARGV  now_ms fence max_n max_b ttl_ms expires_ms event data msg_bytes create,
--       then (client_id, epoch_candidate) per mailbox
-- Returns per mailbox {client_id, "<epoch>-<offset>" or "" when skipped,
-- evicted by count, evicted by size, expired}.
local function append(keys, args)
  local now, fence = tonumber(args[1]), args[2]
  local max_n, max_b, ttl = tonumber(args[3]), tonumber(args[4]), tonumber(args[5])
  local expires, event, data, msg_bytes = tonumber(args[6]), args[7], args[8], tonumber(args[9])
  local create = args[10] == '1'
  local out = {}
  for i = 1, (#keys - 1) / 2 do
    local meta_key, list = keys[2 * i], keys[2 * i + 1]
    local cid, candidate = args[9 + 2 * i], args[10 + 2 * i]
    local counts = {capacity = 0, size = 0, expired = 0}
    local m, created = open_mailbox(meta_key, list, fence, candidate, create)
    if not m then
      out[i] = {cid, '', 0, 0, 0}
    else
      if created then redis.call('ZADD', keys[1], now, cid) end
      drop_expired(m, list, now, counts)
      local off = m.next
      redis.call('RPUSH', list, table.concat({off, now, expires, msg_bytes, #event}, ' ') .. ' ' ..
                                    event .. data)
      if m.next == m.first then m.front_exp = expires end
      m.next = off + 1
      m.bytes = m.bytes + msg_bytes
      while m.next - m.first > 1 and (m.next - m.first > max_n or m.bytes > max_b) do
        pop_front(m, list, counts, m.next - m.first > max_n and 'capacity' or 'size')
        m.front_exp = front_expiry(list)
      end
      save_meta(meta_key, m, ttl)
      redis.call('PEXPIRE', list, ttl)
      out[i] = {cid, m.epoch .. '-' .. off, counts.capacity, counts.size, counts.expired}
    end
  end
  return out
end

-- pb1_read: where a reader starts, and the entries from there.
-- KEYS  clients meta list
-- ARGV  now_ms fence client_id epoch_candidate create ttl_ms mode id_epoch id_offset limit
--   mode "after": continue after <id_epoch>-<id_offset> (id_epoch "" when the
--   id did not parse); "undelivered": after the delivered cursor.
-- Returns {epoch, first, next, reset ("" or a reason), entries...}, or {}
-- when the mailbox is missing and not to be created.
local function read(keys, args)
  local now, fence, cid, candidate = tonumber(args[1]), args[2], args[3], args[4]
  local create, ttl, mode = args[5] == '1', tonumber(args[6]), args[7]
  local id_epoch, id_offset, limit = args[8], tonumber(args[9]), tonumber(args[10])
  local m, created = open_mailbox(keys[2], keys[3], fence, candidate, create)
  if not m then return {} end
  if created then redis.call('ZADD', keys[1], now, cid) end
  local counts = {capacity = 0, size = 0, expired = 0}
  drop_expired(m, keys[3], now, counts)
  -- The replay rule, as broker/replay.cc states it.
  local from, reset = m.first, ''
  if mode == 'after' then
    if id_epoch == '' then reset = 'malformed_id'
    elseif id_epoch ~= m.epoch then reset = 'foreign_epoch'
    elseif id_offset >= m.next then reset = 'ahead_of_mailbox'
    elseif m.first > id_offset + 1 then reset = 'messages_evicted'
    else from = id_offset + 1 end
  else
    from = math.max(m.first, m.delivered + 1)
  end
  save_meta(keys[2], m, ttl)
  redis.call('PEXPIRE', keys[3], ttl)
  local out = {m.epoch, m.first, m.next, reset}
  if from < m.next then
    local last = m.next - 1
    if limit > 0 and last - from + 1 > limit then last = from + limit - 1 end
    for _, entry in ipairs(redis.call('LRANGE', keys[3], from - m.first, last - m.first)) do
      out[#out + 1] = entry
    end
  end
  return out
end

-- pb1_confirm: the client has everything through <epoch>-<offset>.
-- KEYS meta   ARGV epoch offset
local function confirm(keys, args)
  local m = load_meta(keys[1])
  if not m or m.epoch ~= args[1] then return 0 end
  local off = tonumber(args[2])
  if off <= m.delivered or off >= m.next then return 0 end
  m.delivered = off
  local ttl = redis.call('PTTL', keys[1])
  if ttl > 0 then save_meta(keys[1], m, ttl) end
  return 1
end

redis.register_function('pb1_append', append)
redis.register_function('pb1_read', read)
redis.register_function('pb1_confirm', confirm)
