import { createHash } from 'node:crypto';
import { windowBuckets } from '../../rules/bucket-window.js';

/**
 * The Lua script behind every RedisCounterStore verb that reads and writes a key: Redis runs a
 * script alone (no other command runs meanwhile, https://redis.io/docs/latest/develop/programmability/eval-intro/),
 * so a verb is one atomic step for its key, whichever node and connection sent it.
 *
 * It is rules/bucket-window.ts written again in Lua, function for function (`windowFor`,
 * `carriedOver`, `advance`, `countAt`, `retryAt`, `expiresAt`), with the same floating-point
 * arithmetic: Lua 5.1 numbers are IEEE doubles as JavaScript's are, and each bucket index and time
 * is computed by the same operations in the same order, so both give the same integers. The unit
 * test counter-script.test.ts runs both on random schedules and compares every answer and every
 * stored window, so the two cannot drift apart unnoticed.
 *
 * A key's window is one string, a MessagePack array (Redis's built-in cmsgpack, C code: 1.6 times
 * cheaper per take for Redis than the same numbers as decimal text parsed and printed in Lua,
 * decision 0005): [windowMs, head, age, count, age, count, …], the newest bucket's index and, per
 * bucket holding hits, oldest first, its age (head minus its index, 0-60: one byte) and its count,
 * at most 61 pairs. Integral numbers are packed as integers, exact up to 2^53. The expiry is
 * written with %d: Lua's tostring keeps only 14 significant digits.
 *
 * ARGV[1] is the verb; times and windows are whole milliseconds as decimal strings.
 *   take  now windowMs max marginMs -> {1, count, false} or {0, count, retryAt}
 *   add   now windowMs marginMs     -> count
 *   count now windowMs max          -> {count, retryAt or false}
 *   evaluate now marginMs (check windowMs max marked)… -> {{allowed, count, retryAt or false, first}, …}
 *                                      KEYS: each check's key, followed by its marker's when marked
 *                                      ("1"); max is "" for an add. One result per check run,
 *                                      stopping after the first refusal (CounterStore.evaluate).
 *   hold  until ttlMs               -> 1 when this end was kept, 0 when a later one already was;
 *                                      ttlMs "" keeps the hold without an expiry
 *   sweep-count now / sweep-hold now -> 1 when the key was dead at `now` and deleted, else 0
 * A write sets the key to expire `marginMs` after its last hit leaves the window (relative to `now`).
 */
export const counterScript = `
local B = ${windowBuckets}
local verb = ARGV[1]

local function int(n) return string.format('%d', n) end
local function bucketOf(w, t) return math.floor(t * B / w) end
local function startOf(w, b) return math.ceil(b * w / B) end
local function leavesAt(win, bucket) return startOf(win.w, bucket + B + 1) end

-- A window: w (ms), head (newest bucket; -math.huge when new), b[i] and c[i] oldest first, n pairs.
local function empty(w) return { w = w, head = -math.huge, b = {}, c = {}, n = 0 } end

-- BucketWindow.restore: pairs outside the window of head, or empty, are left out.
local function decode(raw)
  local f = cmsgpack.unpack(raw)
  local win = empty(f[1])
  win.head = f[2]
  for i = 3, #f - 1, 2 do
    if f[i] >= 0 and f[i] <= B and f[i + 1] > 0 then
      win.n = win.n + 1
      win.b[win.n] = win.head - f[i]
      win.c[win.n] = f[i + 1]
    end
  end
  return win
end

local function encode(win)
  local parts = { win.w, win.head }
  for i = 1, win.n do
    parts[2 * i + 1] = win.head - win.b[i]
    parts[2 * i + 2] = win.c[i]
  end
  return cmsgpack.pack(parts)
end

-- BucketWindow.advance: moves the head forward (never back) and drops the buckets that left.
local function advance(win, now)
  local bucket = bucketOf(win.w, now)
  if bucket > win.head then win.head = bucket end
  local oldest = win.head - B
  local first = 1
  while first <= win.n and win.b[first] < oldest do first = first + 1 end
  if first > 1 then
    local b, c, n = {}, {}, 0
    for i = first, win.n do
      n = n + 1
      b[n] = win.b[i]
      c[n] = win.c[i]
    end
    win.b, win.c, win.n = b, c, n
  end
end

local function add(win, bucket, count)
  if win.n > 0 and win.b[win.n] == bucket then
    win.c[win.n] = win.c[win.n] + count
  else
    win.n = win.n + 1
    win.b[win.n] = bucket
    win.c[win.n] = count
  end
end

local function firstAt(win, now)
  local oldest = math.max(win.head, bucketOf(win.w, now)) - B
  local i = 1
  while i <= win.n and win.b[i] < oldest do i = i + 1 end
  return i
end

local function countAt(win, now)
  local count = 0
  for i = firstAt(win, now), win.n do count = count + win.c[i] end
  return count
end

local function retryAt(win, max, now)
  local first = firstAt(win, now)
  local count = 0
  for i = first, win.n do count = count + win.c[i] end
  if count < max then return false end
  local dropped = 0
  for i = first, win.n do
    dropped = dropped + win.c[i]
    if count - dropped < max then return leavesAt(win, win.b[i]) end
  end
  error('the counts do not add up')
end

-- BucketWindow.carriedOver: the hits of a window of another length, as if all came at the later
-- of now and the start of its newest bucket.
local function carriedOver(prev, w, now)
  local win = empty(w)
  advance(win, math.max(now, startOf(prev.w, prev.head)))
  local count = countAt(prev, now)
  if count > 0 then add(win, win.head, count) end
  return win
end

-- windowFor: the key's window laid out for w.
local function load(key, w, now)
  local raw = redis.call('GET', key)
  if not raw then return empty(w) end
  local win = decode(raw)
  if win.w == w then return win end
  return carriedOver(win, w, now)
end

local function total(win)
  local count = 0
  for i = 1, win.n do count = count + win.c[i] end
  return count
end

local function record(key, win, now, margin)
  advance(win, now)
  add(win, win.head, 1)
  redis.call('SET', key, encode(win), 'PX', int(math.ceil(leavesAt(win, win.b[win.n]) - now) + margin))
  return total(win)
end

local function take(key, now, w, max, margin)
  local win = load(key, w, now)
  local count = countAt(win, now)
  if count >= max then return { 0, count, retryAt(win, max, now) } end
  return { 1, record(key, win, now, margin), false }
end

local function count(key, now, w, max)
  local win = load(key, w, now)
  return { countAt(win, now), retryAt(win, max, now) }
end

local key = KEYS[1]
if verb == 'take' then
  return take(key, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
elseif verb == 'add' then
  local now, w, margin = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  return record(key, load(key, w, now), now, margin)
elseif verb == 'count' then
  return count(key, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
elseif verb == 'evaluate' then
  -- CounterStore.evaluate (rules/counter-checks.ts runChecks): each check in turn, stopping after
  -- the first refusal.
  local now, margin = tonumber(ARGV[2]), tonumber(ARGV[3])
  local results, k = {}, 1
  for a = 4, #ARGV, 4 do
    local check, w, max, marked = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3] == '1'
    local ckey = KEYS[k]
    k = k + 1
    local result
    if check == 'add' then
      result = { 1, record(ckey, load(ckey, w, now), now, margin), false, 0 }
    elseif check == 'count' then
      local counted = count(ckey, now, w, max)
      result = { counted[2] and 0 or 1, counted[1], counted[2], 0 }
    elseif check == 'take' then
      local taken = take(ckey, now, w, max, margin)
      local first = 0
      if marked then
        if taken[1] == 0 and take(KEYS[k], now, w, 1, margin)[1] == 1 then first = 1 end
        k = k + 1
      end
      result = { taken[1], taken[2], taken[3], first }
    else
      error('unknown check')
    end
    results[#results + 1] = result
    if result[1] == 0 then break end
  end
  return results
elseif verb == 'hold' then
  local current = tonumber(redis.call('GET', key))
  if current and current >= tonumber(ARGV[2]) then return 0 end
  if ARGV[3] == '' then redis.call('SET', key, ARGV[2]) else redis.call('SET', key, ARGV[2], 'PX', ARGV[3]) end
  return 1
elseif verb == 'sweep-count' then
  local raw = redis.call('GET', key)
  if not raw then return 0 end
  local win = decode(raw)
  if win.n > 0 and leavesAt(win, win.b[win.n]) > tonumber(ARGV[2]) then return 0 end
  redis.call('DEL', key)
  return 1
elseif verb == 'sweep-hold' then
  local current = tonumber(redis.call('GET', key))
  if current == nil or current > tonumber(ARGV[2]) then return 0 end
  redis.call('DEL', key)
  return 1
end
error('unknown verb')
`;

/** What EVALSHA names the script by. */
export const counterScriptSha = createHash('sha1').update(counterScript).digest('hex');
