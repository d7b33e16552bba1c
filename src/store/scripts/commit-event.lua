#!lua
-- Commits one accepted event of one case, all or nothing (DESIGN.md invariant 2).
-- KEYS: 1 case hash, 2 audit list, 3 outbox stream, 4 idempotency record,
--       5 index of the state left, 6 index of the state entered
-- ARGV: 1 expected version, 2 snapshot, 3 state entered, 4 body hash, 5 idempotency TTL (s),
--       6 audit entry, 7 case id, 8 index score, 9 result, 10.. outbox entries
-- Returns {'ok', version, outbox ids...} | {'replay', result} | {'conflict', ''} | {'stale', version}

-- Idempotency first, so a commit re-sent after a reconnect (ioredis) is recognised, not applied twice.
local seen = redis.call('GET', KEYS[4])
if seen then
  local sep = string.find(seen, '\n', 1, true)
  if string.sub(seen, 1, sep - 1) == ARGV[4] then
    return {'replay', string.sub(seen, sep + 1)}
  end
  return {'conflict', ''}
end

local version = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if version ~= tonumber(ARGV[1]) then
  return {'stale', tostring(version)}
end

-- Every check that could fail a write runs before the first write: a script error after a write
-- would leave a partial commit (Redis does not roll scripts back).
local expected = {[1] = 'hash', [2] = 'list', [3] = 'stream', [4] = 'string', [5] = 'zset', [6] = 'zset'}
for i, kind in pairs(expected) do
  local actual = redis.call('TYPE', KEYS[i])['ok']
  if actual ~= 'none' and actual ~= kind then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' holds a ' .. actual .. ', expected ' .. kind)
  end
end

local next_version = version + 1
redis.call('HSET', KEYS[1], 'v', next_version, 's', ARGV[2], 'st', ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[6])
local reply = {'ok', tostring(next_version)}
for i = 10, #ARGV do
  reply[#reply + 1] = redis.call('XADD', KEYS[3], '*', 'e', ARGV[i])
end
redis.call('SET', KEYS[4], ARGV[4] .. '\n' .. ARGV[9], 'EX', tonumber(ARGV[5]))
if KEYS[5] ~= KEYS[6] then
  redis.call('ZREM', KEYS[5], ARGV[7])
end
redis.call('ZADD', KEYS[6], tonumber(ARGV[8]), ARGV[7])
return reply
