#!lua name=pb1
-- push-broker's Redis Functions (library pb1): every write to a mailbox runs
-- here, in one call, so offsets are assigned +1 with no gap and no reuse by
-- the one master that owns the mailbox's slot. docs/redis.md has the design.
--
-- Every function takes one key, its partition's client registry
-- "pb:{T}:clients", and derives the partition's other keys from its prefix
-- "pb:{T}:" (all in the same slot, as Redis Cluster requires):
--   h:<cid>  STRING  the mailbox's meta, "<epoch> <next> <first> <bytes>
--                    <front_exp> <fence> <delivered> <activity> <seen> <routes>"
--   m:<cid>  LIST    entries "<offset> <published_ms> <expires_ms> <bytes> <event_len> <event><data>"
--   t:<cid>  SET     the client's topics
--   clients  ZSET    client id -> last activity (coarse), for broadcast and the idle sweep
--   alive    HASH    replica -> lease expiry (ms); "seq:<replica>" -> notifications sent
--   stats    HASH    messages, bytes, evicted_capacity, evicted_size, expired
--   i:<key>  HASH    client id -> the id an idempotency key was given (expires with the window)
--   r:<replica>      the shard channel of a replica's notifications
-- epoch is lowercase hex; offsets are decimal; list index = offset - first.
-- routes is "-" or "<replica>=<streams>,...": which replicas hold live
-- streams of the client; a route counts while its replica's lease holds.
-- fence is the run_id of the Redis process that last wrote the meta: under
-- another process (a failover or a restart may have lost acknowledged
-- writes) the mailbox takes a new epoch, so a reader holding an id of the
-- old one gets a reset instead of a silent gap. The fence argument of a
-- call is "<run_id of this node>|<run_ids of the masters serving now>": a
-- meta last written by a master that still serves (the source of a slot
-- migration, which copies every key whole) is taken as it is.

local ACTIVITY_STEP = 60000  -- ms: how stale the registry's activity score may be

local function prefix_of(clients_key)
  return string.sub(clients_key, 1, -8)  -- strip "clients"
end

-- Redis Cluster moves a slot key by key: while this partition's slot
-- migrates, some of its keys may be on the next node already. Touching
-- every key a call may use, before it writes anything, makes this node
-- refuse the whole call (a "non local key" error, which the broker retries
-- until the slot has moved) rather than run half of it or create here a key
-- that exists there. Elsewhere it costs one lookup per key.
local function require_local(key_list)
  redis.call('EXISTS', unpack(key_list))
end

-- The keys of mailbox `cid` a call may touch, added to `list`.
local function mailbox_keys(list, prefix, cid)
  list[#list + 1] = prefix .. 'h:' .. cid
  list[#list + 1] = prefix .. 'm:' .. cid
  list[#list + 1] = prefix .. 't:' .. cid
  return list
end

local function partition_keys(prefix)
  return {prefix .. 'clients', prefix .. 'alive', prefix .. 'stats'}
end

local function parse_routes(text)
  local routes = {}
  if text and text ~= '-' then
    for replica, n in string.gmatch(text, '([^,=]+)=(%d+)') do routes[replica] = tonumber(n) end
  end
  return routes
end

local function format_routes(routes)
  local parts = {}
  for replica, n in pairs(routes) do
    if n > 0 then parts[#parts + 1] = replica .. '=' .. n end
  end
  table.sort(parts)
  return #parts == 0 and '-' or table.concat(parts, ',')
end

local function load_meta(key)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  local f = {}
  for word in string.gmatch(raw, '%S+') do f[#f + 1] = word end
  return {epoch = f[1], next = tonumber(f[2]), first = tonumber(f[3]), bytes = tonumber(f[4]),
          front_exp = tonumber(f[5]), fence = f[6], delivered = tonumber(f[7]),
          activity = tonumber(f[8] or 0), seen = tonumber(f[9] or 0),
          routes = parse_routes(f[10])}
end

local function save_meta(key, m)
  redis.call('SET', key, table.concat({m.epoch, m.next, m.first, m.bytes, m.front_exp, m.fence,
                                       m.delivered, m.activity, m.seen,
                                       format_routes(m.routes)}, ' '))
end

-- Routes whose replica's lease still holds, and how many streams they hold.
-- Routes of replicas whose lease ended are dropped from `m`.
local function live_routes(m, alive_key, now)
  local live, streams = {}, 0
  for replica, n in pairs(m.routes) do
    local lease = tonumber(redis.call('HGET', alive_key, replica) or 0)
    if lease > now then
      live[replica] = n
      streams = streams + n
    else
      m.routes[replica] = nil
    end
  end
  return live, streams
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

local function new_counts()
  return {messages = 0, bytes = 0, evicted_capacity = 0, evicted_size = 0, expired = 0}
end

local function pop_front(m, list, counts, reason)
  local entry = redis.call('LPOP', list)
  if not entry then return end
  local _, _, bytes = entry_header(entry)
  m.first = m.first + 1
  m.bytes = m.bytes - bytes
  counts[reason] = counts[reason] + 1
  counts.messages = counts.messages - 1
  counts.bytes = counts.bytes - bytes
  m.front_exp = front_expiry(list)
end

-- The partition's totals move by what one call did.
local function add_stats(prefix, counts)
  for field, delta in pairs(counts) do
    if delta ~= 0 then redis.call('HINCRBY', prefix .. 'stats', field, delta) end
  end
end

-- Drops expired entries from the front (the newest expiring first is kept
-- until its turn, as the memory store does).
local function drop_expired(m, list, now, counts)
  while m.front_exp > 0 and m.front_exp <= now and m.next > m.first do
    pop_front(m, list, counts, 'expired')
  end
end

-- The mailbox as the caller may use it: created when missing (and `create`),
-- re-epoched when written under another Redis process. nil: missing.
local function open_mailbox(prefix, cid, fence_arg, candidate, create, now)
  local fence, trusted = string.match(fence_arg, '^([^|]*)|?(.*)$')
  local m = load_meta(prefix .. 'h:' .. cid)
  if not m then
    if not create then return nil end
    redis.call('DEL', prefix .. 'm:' .. cid)  -- a list without its meta is an old incarnation's
    redis.call('ZADD', prefix .. 'clients', now, cid)
    return {epoch = candidate, next = 1, first = 1, bytes = 0, front_exp = 0, fence = fence,
            delivered = 0, activity = now, seen = 0, routes = {}}, true
  end
  if fence ~= '' and m.fence ~= fence then
    local still_serving = false
    for run_id in string.gmatch(trusted, '[^,]+') do
      if run_id == m.fence then still_serving = true end
    end
    if not still_serving then
      -- Entries retained keep their offsets under the new epoch, so this
      -- incarnation starts at `first`. Routes were of streams reading the old one.
      m.epoch = candidate
      m.delivered = m.first - 1
      redis.call('HINCRBY', prefix .. 'stats', 'fenced', 1)
    end
    m.fence = fence
  end
  return m, false
end

-- Records activity; the registry's score follows in coarse steps.
local function touch(prefix, cid, m, now)
  if now - m.activity >= ACTIVITY_STEP then
    redis.call('ZADD', prefix .. 'clients', now, cid)
  end
  m.activity = now
end

-- A notification on a replica's channel: "<seq> <kind> ..." then lines.
local function notify(prefix, replica, body)
  local seq = redis.call('HINCRBY', prefix .. 'alive', 'seq:' .. replica, 1)
  redis.call('SPUBLISH', prefix .. 'r:' .. replica, seq .. ' ' .. body)
end

-- pb1_append: one message to the mailboxes of one partition.
-- KEYS  clients
-- ARGV  now_ms fence max_n max_b expires_ms event data msg_bytes create idem_key idem_ms,
--       then (client_id, epoch_candidate) per mailbox
-- Returns per mailbox {client_id, "<epoch>-<offset>" or "" when skipped,
-- live streams, 1 when an earlier call under the idempotency key did it}.
-- Notifies each replica holding streams once: "<seq> M <published_ms>
-- <expires_ms> <event_len> <n>\n" + n lines "<client_id> <id>\n" + event + data.
local function append(keys, args)
  local prefix = prefix_of(keys[1])
  local now, fence = tonumber(args[1]), args[2]
  local max_n, max_b = tonumber(args[3]), tonumber(args[4])
  local expires, event, data, msg_bytes = tonumber(args[5]), args[6], args[7], tonumber(args[8])
  local create, idem_key, idem_ms = args[9] == '1', args[10], tonumber(args[11])
  local idem = idem_key ~= '' and (prefix .. 'i:' .. idem_key) or nil
  local counts = new_counts()
  local out, notices = {}, {}
  local touched = partition_keys(prefix)
  if idem then touched[#touched + 1] = idem end
  for i = 1, (#args - 11) / 2 do mailbox_keys(touched, prefix, args[10 + 2 * i]) end
  require_local(touched)
  for i = 1, (#args - 11) / 2 do
    local cid, candidate = args[10 + 2 * i], args[11 + 2 * i]
    local earlier = idem and redis.call('HGET', idem, cid)
    local m = not earlier and open_mailbox(prefix, cid, fence, candidate, create, now)
    if earlier then
      out[i] = {cid, earlier, 0, 1}
    elseif not m then
      out[i] = {cid, '', 0, 0}
    else
      local list = prefix .. 'm:' .. cid
      drop_expired(m, list, now, counts)
      local off = m.next
      redis.call('RPUSH', list, table.concat({off, now, expires, msg_bytes, #event}, ' ') .. ' ' ..
                                    event .. data)
      if m.next == m.first then m.front_exp = expires end
      m.next = off + 1
      m.bytes = m.bytes + msg_bytes
      counts.messages = counts.messages + 1
      counts.bytes = counts.bytes + msg_bytes
      while m.next - m.first > 1 and (m.next - m.first > max_n or m.bytes > max_b) do
        pop_front(m, list, counts, m.next - m.first > max_n and 'evicted_capacity' or 'evicted_size')
      end
      local live, streams = live_routes(m, prefix .. 'alive', now)
      touch(prefix, cid, m, now)
      save_meta(prefix .. 'h:' .. cid, m)
      local id = m.epoch .. '-' .. off
      for replica in pairs(live) do
        notices[replica] = notices[replica] or {}
        table.insert(notices[replica], cid .. ' ' .. id)
      end
      if idem then redis.call('HSET', idem, cid, id) end
      out[i] = {cid, id, streams, 0}
    end
  end
  if idem then redis.call('PEXPIRE', idem, idem_ms) end
  add_stats(prefix, counts)
  for replica, lines in pairs(notices) do
    notify(prefix, replica, table.concat({'M', now, expires, #event, #lines}, ' ') .. '\n' ..
                                table.concat(lines, '\n') .. '\n' .. event .. data)
  end
  return out
end

-- pb1_read: where a reader starts, and the entries from there; with a
-- replica, also registers a live stream of that replica (in the same step,
-- so no append falls between the registration and the replay).
-- KEYS  clients
-- ARGV  now_ms fence client_id epoch_candidate create mode id_epoch id_offset limit replica
--       lease_ms (the replica's lease, renewed with the route)
--   mode "after": continue after <id_epoch>-<id_offset> (id_epoch "" when the
--   id did not parse); "undelivered": after the delivered cursor; "oldest".
-- Returns {epoch, first, next, reset ("" or a reason), entries...}, or {}
-- when the mailbox is missing and not to be created.
local function read(keys, args)
  local prefix = prefix_of(keys[1])
  local now, fence, cid, candidate = tonumber(args[1]), args[2], args[3], args[4]
  local create, mode = args[5] == '1', args[6]
  local id_epoch, id_offset, limit, replica = args[7], tonumber(args[8]), tonumber(args[9]), args[10]
  require_local(mailbox_keys(partition_keys(prefix), prefix, cid))
  local m = open_mailbox(prefix, cid, fence, candidate, create, now)
  if not m then return {} end
  local list = prefix .. 'm:' .. cid
  local counts = new_counts()
  drop_expired(m, list, now, counts)
  add_stats(prefix, counts)
  -- The replay rule, as broker/replay.cc states it.
  local from, reset = m.first, ''
  if mode == 'after' then
    if id_epoch == '' then reset = 'malformed_id'
    elseif id_epoch ~= m.epoch then reset = 'foreign_epoch'
    elseif id_offset >= m.next then reset = 'ahead_of_mailbox'
    elseif m.first > id_offset + 1 then reset = 'messages_evicted'
    else from = id_offset + 1 end
  elseif mode == 'undelivered' then
    from = math.max(m.first, m.delivered + 1)
  end
  if replica ~= '' then
    m.routes[replica] = (m.routes[replica] or 0) + 1
    redis.call('HSET', prefix .. 'alive', replica, args[11])
  end
  touch(prefix, cid, m, now)
  save_meta(prefix .. 'h:' .. cid, m)
  local out = {m.epoch, m.first, m.next, reset}
  if from < m.next then
    local last = m.next - 1
    if limit > 0 and last - from + 1 > limit then last = from + limit - 1 end
    for _, entry in ipairs(redis.call('LRANGE', list, from - m.first, last - m.first)) do
      out[#out + 1] = entry
    end
  end
  return out
end

-- pb1_release: a stream of `replica` ended; the client was last seen now.
-- KEYS clients   ARGV now_ms client_id replica
-- Returns 0 when the mailbox is missing.
local function release(keys, args)
  local prefix = prefix_of(keys[1])
  local now, cid, replica = tonumber(args[1]), args[2], args[3]
  require_local(mailbox_keys(partition_keys(prefix), prefix, cid))
  local m = load_meta(prefix .. 'h:' .. cid)
  if not m then return 0 end
  local n = (m.routes[replica] or 0) - 1
  m.routes[replica] = n > 0 and n or nil
  m.seen = now
  touch(prefix, cid, m, now)
  save_meta(prefix .. 'h:' .. cid, m)
  return 1
end

-- pb1_touch: marks activity; creates the mailbox when asked.
-- KEYS clients   ARGV now_ms fence client_id epoch_candidate create
-- Returns 0 when the mailbox is missing (and not created).
local function touch_mailbox(keys, args)
  local prefix = prefix_of(keys[1])
  local now, cid = tonumber(args[1]), args[3]
  require_local(mailbox_keys(partition_keys(prefix), prefix, cid))
  local m = open_mailbox(prefix, cid, args[2], args[4], args[5] == '1', now)
  if not m then return 0 end
  touch(prefix, cid, m, now)
  save_meta(prefix .. 'h:' .. cid, m)
  return 1
end

-- pb1_confirm: each client has everything through its <epoch>-<offset>.
-- KEYS clients   ARGV (client_id, epoch, offset)*
-- Returns how many delivered cursors moved.
local function confirm(keys, args)
  local prefix = prefix_of(keys[1])
  local moved = 0
  local touched = {}
  for i = 1, #args - 2, 3 do touched[#touched + 1] = prefix .. 'h:' .. args[i] end
  if #touched > 0 then require_local(touched) end
  for i = 1, #args - 2, 3 do
    local meta_key = prefix .. 'h:' .. args[i]
    local m = load_meta(meta_key)
    local off = tonumber(args[i + 2])
    if m and m.epoch == args[i + 1] and off > m.delivered and off < m.next then
      m.delivered = off
      save_meta(meta_key, m)
      moved = moved + 1
    end
  end
  return moved
end

-- pb1_describe: the mailbox as GetClient shows it.
-- KEYS clients   ARGV now_ms fence client_id epoch_candidate
-- Returns {} when missing, else {epoch, first, next, activity, seen,
-- live streams, topics...}.
local function describe(keys, args)
  local prefix = prefix_of(keys[1])
  local now, cid = tonumber(args[1]), args[3]
  require_local(mailbox_keys(partition_keys(prefix), prefix, cid))
  local m = open_mailbox(prefix, cid, args[2], args[4], false, now)
  if not m then return {} end
  local counts = new_counts()
  drop_expired(m, prefix .. 'm:' .. cid, now, counts)
  add_stats(prefix, counts)
  local _, streams = live_routes(m, prefix .. 'alive', now)
  save_meta(prefix .. 'h:' .. cid, m)
  local out = {m.epoch, m.first, m.next, m.activity, m.seen, streams}
  for _, topic in ipairs(redis.call('SMEMBERS', prefix .. 't:' .. cid)) do out[#out + 1] = topic end
  return out
end

-- pb1_control: asks every other replica holding streams of the client to
-- close them ("<seq> C <cause> <retry_ms>\n<client_id>").
-- KEYS clients   ARGV now_ms client_id cause retry_ms replica(self)
-- Returns the streams other replicas were asked to close, or -1 when the
-- mailbox is missing.
local function control(keys, args)
  local prefix = prefix_of(keys[1])
  local now, cid, cause, retry_ms, self = tonumber(args[1]), args[2], args[3], args[4], args[5]
  require_local(mailbox_keys(partition_keys(prefix), prefix, cid))
  local m = load_meta(prefix .. 'h:' .. cid)
  if not m then return -1 end
  local live = live_routes(m, prefix .. 'alive', now)
  local told = 0
  for replica, n in pairs(live) do
    if replica ~= self then
      notify(prefix, replica, 'C ' .. cause .. ' ' .. retry_ms .. '\n' .. cid)
      told = told + n
    end
  end
  return told
end

-- Removes a mailbox and its keys; returns its topics.
local function remove_mailbox(prefix, cid, m)
  local topics = redis.call('SMEMBERS', prefix .. 't:' .. cid)
  redis.call('DEL', prefix .. 'h:' .. cid, prefix .. 'm:' .. cid, prefix .. 't:' .. cid)
  redis.call('ZREM', prefix .. 'clients', cid)
  add_stats(prefix, {messages = m.first - m.next, bytes = -m.bytes})
  return topics
end

-- pb1_delete: drops the mailbox; tells every other replica holding its
-- streams to close them.
-- KEYS clients   ARGV now_ms client_id replica(self)
-- Returns {} when missing, else the client's topics.
local function delete(keys, args)
  local prefix = prefix_of(keys[1])
  local now, cid, self = tonumber(args[1]), args[2], args[3]
  require_local(mailbox_keys(partition_keys(prefix), prefix, cid))
  local m = load_meta(prefix .. 'h:' .. cid)
  if not m then return {} end
  local live = live_routes(m, prefix .. 'alive', now)
  for replica in pairs(live) do
    if replica ~= self then notify(prefix, replica, 'C deleted 0\n' .. cid) end
  end
  local topics = remove_mailbox(prefix, cid, m)
  table.insert(topics, 1, 'ok')
  return topics
end

-- pb1_topic: adds or removes one topic of the client's set.
-- KEYS clients   ARGV now_ms fence client_id epoch_candidate create op topic max_topics
-- Returns 1 done, 0 nothing to do, -1 mailbox missing, -2 past max_topics.
local function topic(keys, args)
  local prefix = prefix_of(keys[1])
  local now, cid, op, name = tonumber(args[1]), args[3], args[6], args[7]
  local set = prefix .. 't:' .. cid
  require_local(mailbox_keys(partition_keys(prefix), prefix, cid))
  if op == 'remove' then return redis.call('SREM', set, name) end
  local m = open_mailbox(prefix, cid, args[2], args[4], args[5] == '1', now)
  if not m then return -1 end
  touch(prefix, cid, m, now)
  save_meta(prefix .. 'h:' .. cid, m)
  if redis.call('SISMEMBER', set, name) == 1 then return 0 end
  if redis.call('SCARD', set) >= tonumber(args[8]) then return -2 end
  return redis.call('SADD', set, name)
end

-- pb1_sweep: removes mailboxes idle for ttl_ms with no live stream.
-- KEYS clients   ARGV now_ms ttl_ms limit
-- Returns {client_id, topics...} per mailbox removed (topics as one
-- newline-joined string).
local function sweep(keys, args)
  local prefix = prefix_of(keys[1])
  local now, ttl, limit = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  local out = {}
  local idle = redis.call('ZRANGEBYSCORE', keys[1], '-inf', now - ttl, 'LIMIT', 0, limit)
  local touched = partition_keys(prefix)
  for _, cid in ipairs(idle) do mailbox_keys(touched, prefix, cid) end
  require_local(touched)
  for _, cid in ipairs(idle) do
    local m = load_meta(prefix .. 'h:' .. cid)
    if not m then
      redis.call('ZREM', keys[1], cid)
      redis.call('DEL', prefix .. 'm:' .. cid, prefix .. 't:' .. cid)
      out[#out + 1] = {cid, ''}
    else
      local _, streams = live_routes(m, prefix .. 'alive', now)
      if streams > 0 or m.activity > now - ttl then
        redis.call('ZADD', keys[1], streams > 0 and now or m.activity, cid)
      else
        out[#out + 1] = {cid, table.concat(remove_mailbox(prefix, cid, m), '\n')}
      end
    end
  end
  return out
end

-- pb1_lease: this replica holds streams here until expiry_ms; drops the
-- leases (and sequence counters) of replicas gone for a day.
-- KEYS clients   ARGV now_ms replica expiry_ms
local function lease(keys, args)
  local alive = prefix_of(keys[1]) .. 'alive'
  local now = tonumber(args[1])
  require_local({keys[1], alive})
  redis.call('HSET', alive, args[2], args[3])
  local fields = redis.call('HGETALL', alive)
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 4) ~= 'seq:' and tonumber(fields[i + 1]) < now - 86400000 then
      redis.call('HDEL', alive, name, 'seq:' .. name)
    end
  end
  return 1
end

redis.register_function('pb1_append', append)
redis.register_function('pb1_read', read)
redis.register_function('pb1_release', release)
redis.register_function('pb1_touch', touch_mailbox)
redis.register_function('pb1_confirm', confirm)
redis.register_function('pb1_describe', describe)
redis.register_function('pb1_control', control)
redis.register_function('pb1_delete', delete)
redis.register_function('pb1_topic', topic)
redis.register_function('pb1_sweep', sweep)
redis.register_function('pb1_lease', lease)
