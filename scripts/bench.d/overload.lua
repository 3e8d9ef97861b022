-- wrk script for overload runs (test/e2e/overload.test.ts, scripts/bench --overload). Each request carries the
-- time it was sent: clipper's body {"input": [t, n]}, or with BODY=v2 a V2 inference request of that row
-- (MLServer). The model answers str(t) (scripts/bench.d/per_row_model.py), so the answer tells this request's
-- latency exactly, and every input is new (no cache hits). With $RATE (requests a second) the requests are
-- paced to that rate (open loop while the connections suffice; a late answer does not make up for lost
-- time); without it each connection asks again as soon as it is answered. Counts the answers by kind:
-- predictions (and of them those within $SLO_MS and within $SLO_MS + $GRACE_MS), defaults ("default": true),
-- 429s (and how many carried Retry-After), other statuses. Prints one machine-readable line: the counts, the
-- share of all answers within $SLO_MS (from wrk's percentiles) and the percentiles in microseconds.
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } overload_timespec;
int clock_gettime(int clk_id, overload_timespec *tp);
]])
local ts = ffi.new("overload_timespec")
-- CLOCK_MONOTONIC in microseconds.
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}
local slo_us = tonumber(os.getenv("SLO_MS") or "100") * 1000
local grace_us = tonumber(os.getenv("GRACE_MS") or "150") * 1000
local rate = tonumber(os.getenv("RATE") or "0")
local v2 = os.getenv("BODY") == "v2"

function setup(thread)
  thread:set("seed", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  predictions, in_slo, in_grace, defaults, rejected, retry_after, other = 0, 0, 0, 0, 0, 0, 0
  max_prediction_us = 0
  n = 0
  -- Ms between two requests of this thread (RATE is per wrk thread: the runs use -t1), and when the next may go.
  interval_ms = rate > 0 and (1000 / rate) or 0
  next_ms = now_us() / 1000
end

function delay()
  if interval_ms == 0 then return 0 end
  local now = now_us() / 1000
  next_ms = math.max(next_ms + interval_ms, now)
  return math.floor(next_ms - now)
end

function request()
  n = n + 1
  -- t × 100 + n mod 100: the send time (µs) and a counter, unique and exact as a double.
  local x = now_us() * 100 + n % 100
  local body
  if v2 then
    body = string.format('{"inputs":[{"name":"input-0","shape":[1,2],"datatype":"FP64","data":[%d,%d]}]}', x, n)
  else
    body = string.format('{"input":[%d,%d]}', x, n)
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 200 then
    if string.find(body, '"default":true', 1, true) then
      defaults = defaults + 1
    else
      predictions = predictions + 1
      -- The model's answer is the quoted input ("1188166911712345.0").
      local sent = string.match(body, '"(%d%d%d%d%d%d%d%d%d%d+)%.?%d*"')
      if sent then
        local us = now_us() - math.floor(tonumber(sent) / 100)
        if us <= slo_us then in_slo = in_slo + 1 end
        if us <= slo_us + grace_us then in_grace = in_grace + 1 end
        if us > max_prediction_us then max_prediction_us = us end
      end
    end
  elseif status == 429 then
    rejected = rejected + 1
    if headers["retry-after"] or headers["Retry-After"] then retry_after = retry_after + 1 end
  else
    other = other + 1
  end
end

-- The share of requests answered within limit_us, by bisecting wrk's latency percentiles.
local function share_within(latency, limit_us)
  if latency.max <= limit_us then return 1 end
  local lo, hi = 0, 100
  for _ = 1, 30 do
    local mid = (lo + hi) / 2
    if latency:percentile(mid) <= limit_us then lo = mid else hi = mid end
  end
  return lo / 100
end

function done(summary, latency, requests)
  local c = { predictions = 0, in_slo = 0, in_grace = 0, defaults = 0, rejected = 0, retry_after = 0, other = 0 }
  local max_pred = 0
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
    max_pred = math.max(max_pred, t:get("max_prediction_us") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'OVERLOAD_RESULT {"requests":%d,"duration_us":%d,"predictions":%d,"predictions_in_slo":%d,"predictions_in_grace":%d,' ..
    '"max_prediction_us":%d,"defaults":%d,"rejected":%d,"retry_after":%d,"other":%d,' ..
    '"within_slo":%.5f,"p50_us":%d,"p99_us":%d,"max_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, c.predictions, c.in_slo, c.in_grace, max_pred, c.defaults, c.rejected, c.retry_after, c.other,
    share_within(latency, slo_us), latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout))
end
