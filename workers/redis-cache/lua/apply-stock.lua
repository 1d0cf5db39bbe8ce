--[[
apply-stock.lua: applies a batch of stock changes atomically, each only if it is newer than what the
SKU's hash holds for that warehouse, and stores the partition's progress in the same script.

KEYS[1]      the sentinel key (absent = Redis was flushed: apply nothing, return -1); '' skips the check (rebuild)
KEYS[2]      the partition progress key ('' when progress is not stored, e.g. a rebuild)
KEYS[3..n]   one stock hash key per change, in change order
ARGV[1]      the partition's next offset to store in KEYS[2] (stored only if greater)
ARGV[2]      1 to publish a notification per changed SKU, 0 not to
ARGV[2+6i+1..2+6i+6] for change i (0-based): warehouse, op ('c','u','r','d'), on_hand, reserved,
             position (fixed-width hex, compared as a string), sku
             op 's' sweeps the SKU instead: every warehouse whose position starts with the shard prefix given
             as the change's warehouse (`ssss:`) and is older than the position loses its values and keeps the
             position (as a delete does): what a TRUNCATE at that position emptied, or what a rebuild from a
             snapshot at that position no longer found in Postgres. on_hand and reserved are unused; the
             warehouses removed count as applied.

Returns {applied, stale} as integers, or -1 when the sentinel is missing.
--]]
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end

local applied = 0
local stale = 0
local touched = {}

-- Empties the warehouses of one shard (position prefix) stored before `position`; see op 's' above.
local function sweep(key, prefix, position, sku)
  local fields = redis.call('HGETALL', key)
  local present = {}
  for f = 1, #fields, 2 do
    if string.sub(fields[f], 1, 3) == 'oh:' then present[string.sub(fields[f], 4)] = true end
  end
  for f = 1, #fields, 2 do
    local name, value = fields[f], fields[f + 1]
    local warehouse = string.sub(name, 3)
    if string.sub(name, 1, 2) == 'p:' and present[warehouse] and string.sub(value, 1, #prefix) == prefix and value < position then
      redis.call('HDEL', key, 'oh:' .. warehouse, 'rs:' .. warehouse, 'av:' .. warehouse)
      redis.call('HSET', key, 'p:' .. warehouse, position)
      applied = applied + 1
      touched[key] = sku
    end
  end
end

for i = 3, #KEYS do
  local base = 2 + (i - 3) * 6
  local key = KEYS[i]
  local warehouse = ARGV[base + 1]
  local op = ARGV[base + 2]
  local position = ARGV[base + 5]
  local stored = op ~= 's' and redis.call('HGET', key, 'p:' .. warehouse)
  if op == 's' then
    sweep(key, warehouse, position, ARGV[base + 6])
  elseif stored and stored >= position then
    stale = stale + 1
  else
    if op == 'd' then
      -- Keep the position (a tombstone of sorts) so an older replayed change cannot resurrect the row.
      redis.call('HDEL', key, 'oh:' .. warehouse, 'rs:' .. warehouse, 'av:' .. warehouse)
    else
      local onHand = tonumber(ARGV[base + 3])
      local reserved = tonumber(ARGV[base + 4])
      redis.call('HSET', key, 'oh:' .. warehouse, onHand, 'rs:' .. warehouse, reserved, 'av:' .. warehouse, onHand - reserved)
    end
    redis.call('HSET', key, 'p:' .. warehouse, position)
    applied = applied + 1
    touched[key] = ARGV[base + 6]
  end
end

for key, sku in pairs(touched) do
  local fields = redis.call('HGETALL', key)
  local onHand, reserved, newest = 0, 0, ''
  for f = 1, #fields, 2 do
    local name, value = fields[f], fields[f + 1]
    local kind = string.sub(name, 1, 3)
    if kind == 'oh:' then onHand = onHand + tonumber(value)
    elseif kind == 'rs:' then reserved = reserved + tonumber(value)
    elseif string.sub(name, 1, 2) == 'p:' and value > newest then newest = value end
  end
  redis.call('HSET', key, 'oh', onHand, 'rs', reserved, 'av', onHand - reserved, 'p', newest)
  if ARGV[2] == '1' then
    redis.call('PUBLISH', 'cdc:stock-changed:' .. sku,
      '{"sku":' .. cjson.encode(sku) .. ',"onHand":' .. onHand .. ',"reserved":' .. reserved .. ',"available":' .. (onHand - reserved) .. ',"position":"' .. newest .. '"}')
  end
end

if KEYS[2] ~= '' then
  local current = tonumber(redis.call('GET', KEYS[2]) or '-1')
  if tonumber(ARGV[1]) > current then
    redis.call('SET', KEYS[2], ARGV[1])
  end
end

return {applied, stale}
