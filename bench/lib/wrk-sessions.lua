-- Sends each request with the next of many session cookies, so a run really touches that many
-- distinct sessions (bench/scale.mjs; the cookies come from bench/lib/sessions.mjs).
--   wrk … -s wrk-sessions.lua URL COOKIE_FILE COOKIE_NAME COUNT OFFSET
-- COOKIE_FILE holds cookie values one a line; the first COUNT are used in turn, starting after the
-- first OFFSET requests' worth (the parent passes on where the previous run stopped, so successive
-- runs keep walking the list instead of starting over). One thread only (the harness runs wrk -t1):
-- a thread's init cannot know how many threads follow, so they could not split the list. The
-- requests are formatted once, in init: per request wrk only picks one, so rotating costs the load
-- generator about what a fixed request does.
-- The report (done) is bench/lib/wrk-report.lua's, loaded from beside this file.

dofile(debug.getinfo(1, 'S').source:match('^@(.*/)') .. 'wrk-report.lua')

local threads = 0
local requests = {}
local n = 0
local i = 0

function setup(thread)
  threads = threads + 1
  if threads > 1 then error('wrk-sessions.lua: one thread only (wrk -t1)') end
end

function init(args)
  local file, name, count, offset = args[1], args[2], tonumber(args[3]), tonumber(args[4] or '0')
  for value in io.lines(file) do
    if n == count then break end
    local headers = {}
    for header, text in pairs(wrk.headers) do headers[header] = text end
    headers['Cookie'] = name .. '=' .. value
    n = n + 1
    requests[n] = wrk.format(nil, nil, headers)
  end
  if n < count then error('wrk-sessions.lua: ' .. file .. ' holds ' .. n .. ' cookies, not ' .. count) end
  i = offset % n
end

function request()
  i = i % n + 1
  return requests[i]
end
