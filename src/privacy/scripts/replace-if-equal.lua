#!lua
-- Replaces a string only if it is still the value read (rotation: a re-wrap must never undo a commit).
-- KEYS: 1 the key. ARGV: 1 the value read, 2 the new value.
-- Returns 1 if replaced, 0 if it changed meanwhile (the caller reads again).

if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
