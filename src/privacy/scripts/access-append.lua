#!lua
-- Appends one entry to an access-log stream, chained to the previous one (6.1, append-only).
-- KEYS: 1 the stream. ARGV: 1 the entry (JSON).
-- Each entry carries h = sha1(previous h .. '\n' .. entry): an entry edited or removed from the middle of
-- the stream breaks every later link, which `intervene access verify` reports.
-- Returns the new entry's id.

local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local previous = ''
if #last > 0 then
  local fields = last[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'h' then previous = fields[i + 1] end
  end
end
return redis.call('XADD', KEYS[1], '*', 'e', ARGV[1], 'h', redis.sha1hex(previous .. '\n' .. ARGV[1]))
