#!lua
-- Commits one accepted event of one case, all or nothing (DESIGN.md invariant 2).
-- KEYS: 1 case (a string: '<version>\n<snapshot JSON>'), 2 audit list, 3 outbox stream, 4 idempotency record,
--       5 report facts stream, then one delivery record (hash) per delivery among the outbox entries,
--       then the index sorted sets
-- ARGV: 1 expected version, or '<version>:<SHA-1 of the record as the caller saw it>' (then a record of that
--       version with other contents is stale too: a version number can be reused after Redis lost writes),
--       2 snapshot, 3 state, 4 body hash, 5 idempotency TTL (s), 6 audit entry,
--       7 case id, 8 result, 9 number of outbox entries n, then two per outbox entry: what the outbox
--       stream carries, and the delivery record's entry ('' for an entry that is not a delivery);
--       then one op per index key: '+<score> <member>' (add or move) or '- <member>' (remove);
--       an empty member means the case id; last, the report fact ('' for none).
--       An idempotency TTL of 0 means no record: an open is recognised by its case, whose id derives from the key.
-- A delivery's record (its sealed payload, status 'pending') is written here: a new one with one HSET, one
-- that already exists only where a field is missing (HSETNX, as a re-dispatch would);
-- its outbox entry is only the reference the dispatcher needs to queue it.
-- Returns {'ok', version, outbox ids...} | {'replay', result} | {'conflict', ''} | {'stale', version}

-- Idempotency first, so a commit re-sent after a reconnect (ioredis) is recognised, not applied twice.
local remember = tonumber(ARGV[5]) > 0
local seen = remember and redis.call('GET', KEYS[4])
if seen then
  local sep = string.find(seen, '\n', 1, true)
  if string.sub(seen, 1, sep - 1) == ARGV[4] then
    return {'replay', string.sub(seen, sep + 1)}
  end
  return {'conflict', ''}
end

local current = redis.call('GET', KEYS[1])
local version = current and tonumber(string.match(current, '^(%d+)')) or 0
local expected, fingerprint = string.match(ARGV[1], '^(%d+):?(%x*)$')
if version ~= tonumber(expected) or (fingerprint ~= '' and current and redis.sha1hex(current) ~= fingerprint) then
  return {'stale', tostring(version)}
end

-- Every check that could fail a write runs before the first write: a script error after a write
-- would leave a partial commit (Redis does not roll scripts back).
local n = tonumber(ARGV[9])
local records = 0
for i = 1, n do
  if ARGV[9 + 2 * i] ~= '' then records = records + 1 end
end
local first_index = 6 + records
local kinds = {'string', 'list', 'stream', 'string', 'stream'}
local types = {}
for i = 1, #KEYS do
  local actual = redis.call('TYPE', KEYS[i])['ok']
  types[i] = actual
  local expected = kinds[i] or (i < first_index and 'hash' or 'zset')
  if actual ~= 'none' and actual ~= expected then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' holds a ' .. actual .. ', expected ' .. expected)
  end
end

local next_version = version + 1
redis.call('SET', KEYS[1], next_version .. '\n' .. ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[6])
local reply = {'ok', tostring(next_version)}
local record = 6
for i = 1, n do
  local entry = ARGV[8 + 2 * i]
  local delivery = ARGV[9 + 2 * i]
  if delivery ~= '' then
    if types[record] == 'none' then
      -- The usual case: one command (and one AOF entry) for the new record.
      redis.call('HSET', KEYS[record], 'entry', delivery, 'status', 'pending')
    else
      redis.call('HSETNX', KEYS[record], 'entry', delivery)
      redis.call('HSETNX', KEYS[record], 'status', 'pending')
    end
    record = record + 1
  end
  reply[#reply + 1] = redis.call('XADD', KEYS[3], '*', 'e', entry)
end
if remember then
  redis.call('SET', KEYS[4], ARGV[4] .. '\n' .. ARGV[8], 'EX', tonumber(ARGV[5]))
end
-- 3.3: one compact, personal-data-free fact per accepted event, folded into the reports later.
if ARGV[#ARGV] ~= '' then
  redis.call('XADD', KEYS[5], '*', 'f', ARGV[#ARGV])
end
for k = first_index, #KEYS do
  local op = ARGV[9 + 2 * n + k - first_index + 1]
  local space = string.find(op, ' ', 1, true)
  local member = string.sub(op, space + 1)
  if member == '' then member = ARGV[7] end
  if string.sub(op, 1, 1) == '-' then
    redis.call('ZREM', KEYS[k], member)
  else
    redis.call('ZADD', KEYS[k], tonumber(string.sub(op, 2, space - 1)), member)
  end
end
return reply
