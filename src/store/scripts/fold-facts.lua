#!lua
-- Folds a batch of report facts of one partition into its per-day aggregates, exactly once: the counters
-- move and the partition's cursor advances in one script, and only if the cursor is still where the
-- batch was read from (another folder that got there first makes this one a no-op).
-- KEYS: 1 cursor (string: id of the last folded fact), 2 facts stream, 3.. aggregate keys
-- ARGV: 1 expected cursor ('' when none yet), 2 new cursor, 3 term cap (members kept per terms set),
--       then per aggregate key: kind ('h' hash of counters | 'z' sorted set of terms), expire-at (unix s),
--       n, then n pairs of field and integer increment
-- Returns {'ok'} | {'stale', current cursor}

local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then
  return {'stale', current}
end

-- Every check before the first write: a script error after a write would leave a partial fold.
local cursor_type = redis.call('TYPE', KEYS[1])['ok']
if cursor_type ~= 'none' and cursor_type ~= 'string' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. cursor_type .. ', expected string')
end
local stream_type = redis.call('TYPE', KEYS[2])['ok']
if stream_type ~= 'none' and stream_type ~= 'stream' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' holds a ' .. stream_type .. ', expected stream')
end
local plan = {}
local a = 4
for k = 3, #KEYS do
  local kind = ARGV[a]
  local n = tonumber(ARGV[a + 2])
  local expected = kind == 'z' and 'zset' or 'hash'
  local actual = redis.call('TYPE', KEYS[k])['ok']
  if actual ~= 'none' and actual ~= expected then
    return redis.error_reply('WRONGTYPE ' .. KEYS[k] .. ' holds a ' .. actual .. ', expected ' .. expected)
  end
  plan[#plan + 1] = {key = KEYS[k], kind = kind, expire = ARGV[a + 1], first = a + 3, n = n}
  a = a + 3 + 2 * n
end

local cap = tonumber(ARGV[3])
for _, p in ipairs(plan) do
  for i = p.first, p.first + 2 * p.n - 1, 2 do
    if p.kind == 'z' then
      redis.call('ZINCRBY', p.key, ARGV[i + 1], ARGV[i])
    else
      redis.call('HINCRBY', p.key, ARGV[i], ARGV[i + 1])
    end
  end
  redis.call('EXPIREAT', p.key, p.expire)
  -- A day's terms keep their most frequent members: the rare tail is dropped in bulk, not one by one.
  if p.kind == 'z' and redis.call('ZCARD', p.key) > 2 * cap then
    redis.call('ZREMRANGEBYRANK', p.key, 0, -(cap + 1))
  end
end

redis.call('SET', KEYS[1], ARGV[2])
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
return {'ok'}
