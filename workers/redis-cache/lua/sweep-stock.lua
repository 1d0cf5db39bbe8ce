--[[
sweep-stock.lua: removes from one SKU's hash every warehouse of one shard whose values are older than a
position: the rows a TRUNCATE at that position removed, or rows a rebuild from a snapshot at that position
did not find in Postgres any more. A removed warehouse keeps `p:<warehouse>` = the position (as a delete
does), so an older change replayed later cannot bring it back; a newer one applies as usual.

KEYS[1]   the SKU's stock hash
ARGV[1]   the shard's position prefix (`ssss:`, see source-position.ts); only its warehouses are swept
ARGV[2]   the position (fixed-width hex, compared as a string): values stored before it are removed
ARGV[3]   1 to publish a notification when the SKU changed, 0 not to
ARGV[4]   the SKU (for the notification)

Returns the number of warehouses removed (an integer).
--]]
local key = KEYS[1]
local prefix = ARGV[1]
local position = ARGV[2]
local fields = redis.call('HGETALL', key)
local removed = 0
local present = {}
for f = 1, #fields, 2 do
  local name = fields[f]
  if string.sub(name, 1, 3) == 'oh:' then present[string.sub(name, 4)] = true end
end
for f = 1, #fields, 2 do
  local name, value = fields[f], fields[f + 1]
  if string.sub(name, 1, 2) == 'p:' and string.sub(value, 1, #prefix) == prefix and value < position then
    local warehouse = string.sub(name, 3)
    if present[warehouse] then
      redis.call('HDEL', key, 'oh:' .. warehouse, 'rs:' .. warehouse, 'av:' .. warehouse)
      redis.call('HSET', key, 'p:' .. warehouse, position)
      removed = removed + 1
    end
  end
end
if removed == 0 then return 0 end

fields = redis.call('HGETALL', key)
local onHand, reserved, newest = 0, 0, ''
for f = 1, #fields, 2 do
  local name, value = fields[f], fields[f + 1]
  local kind = string.sub(name, 1, 3)
  if kind == 'oh:' then onHand = onHand + tonumber(value)
  elseif kind == 'rs:' then reserved = reserved + tonumber(value)
  elseif string.sub(name, 1, 2) == 'p:' and value > newest then newest = value end
end
redis.call('HSET', key, 'oh', onHand, 'rs', reserved, 'av', onHand - reserved, 'p', newest)
if ARGV[3] == '1' then
  redis.call('PUBLISH', 'cdc:stock-changed:' .. ARGV[4],
    '{"sku":' .. cjson.encode(ARGV[4]) .. ',"onHand":' .. onHand .. ',"reserved":' .. reserved .. ',"available":' .. (onHand - reserved) .. ',"position":"' .. newest .. '"}')
end
return removed
