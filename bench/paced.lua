-- Fixed-rate pacing for wrk (wrk2 is not in Debian), used by api_bench.py.
--
-- Run with one connection per wrk thread (-t N -c N): each thread's Lua state then
-- drives exactly one connection, which sends on its own fixed schedule, one request
-- every `interval` ms (N connections -> N * 1000 / interval requests/s). A request is
-- never sent before its slot; a late connection sends at once and catches up, so the
-- offered rate holds as long as the server keeps up.
--
-- wrk's own latency counts from the moment a request is written, so a slow answer
-- that delays the next requests hides their queueing time (coordinated omission).
-- This script also measures every answer from its *scheduled* send time (or the real
-- send, if the timer fired early) and prints those percentiles on a SCHEDULED line:
-- the figures the bench reports for "p99 at 200 requests/s".
--
-- Arguments after `--`: interval_ms [bearer_token]
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } lts_timespec;
int clock_gettime(int clk, lts_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("lts_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local interval = 40.0
local next_slot = nil
local scheduled = nil
latencies = {}

function init(args)
  interval = tonumber(args[1]) or interval
  if args[2] then
    wrk.headers["Authorization"] = "Bearer " .. args[2]
  end
end

function delay()
  local now = now_ms()
  if next_slot == nil then
    next_slot = now + math.random() * interval  -- spread the connections' phases
  end
  return math.max(0, next_slot - now)
end

function request()
  local now = now_ms()
  if next_slot == nil then next_slot = now end
  scheduled = math.min(next_slot, now)
  next_slot = next_slot + interval
  return wrk.format()
end

function response(status, headers, body)
  table.insert(latencies, now_ms() - scheduled)
end

function done(summary, latency, requests)
  local all = {}
  for _, thread in ipairs(threads) do
    for _, value in ipairs(thread:get("latencies")) do
      table.insert(all, value)
    end
  end
  if #all == 0 then
    io.write("SCHEDULED n=0\n")
    return
  end
  table.sort(all)
  local function pct(p) return all[math.max(1, math.ceil(#all * p))] end
  io.write(string.format("SCHEDULED n=%d p50=%.3f p99=%.3f max=%.3f\n",
                         #all, pct(0.5), pct(0.99), all[#all]))
end
