-- wrk script for overload runs (test/e2e/overload.test.ts, scripts/bench --overload): POSTs {"input": [x, n]}
-- with a new x each time (no cache hits), optionally after a think time of $DELAY_MS, and counts
-- the answers by kind: predictions, defaults ("default": true), 429s (and how many carried Retry-After),
-- other statuses. Prints one machine-readable line: the counts, and the share of answers within $SLO_MS
-- (from wrk's latency percentiles), with the percentiles in microseconds.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}
local slo_us = tonumber(os.getenv("SLO_MS") or "100") * 1000
-- Think time between a connection's requests (ms): with N connections, about N / DELAY_MS requests per ms are offered.
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")

function delay()
  return delay_ms
end

function setup(thread)
  thread:set("seed", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  predictions, defaults, rejected, retry_after, other = 0, 0, 0, 0, 0
  n = 0
  math.randomseed(seed * 7919 + os.time())
end

function request()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('{"input":[%d,%d]}', math.random(1, 1000000000), n))
end

function response(status, headers, body)
  if status == 200 then
    if string.find(body, '"default":true', 1, true) then
      defaults = defaults + 1
    else
      predictions = predictions + 1
    end
  elseif status == 429 then
    rejected = rejected + 1
    if headers["retry-after"] or headers["Retry-After"] then retry_after = retry_after + 1 end
  else
    other = other + 1
  end
end

-- The share of requests answered within slo_us, by bisecting wrk's latency percentiles.
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
  local c = { predictions = 0, defaults = 0, rejected = 0, retry_after = 0, other = 0 }
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'OVERLOAD_RESULT {"requests":%d,"duration_us":%d,"predictions":%d,"defaults":%d,"rejected":%d,"retry_after":%d,"other":%d,' ..
    '"within_slo":%.5f,"p50_us":%d,"p99_us":%d,"max_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, c.predictions, c.defaults, c.rejected, c.retry_after, c.other,
    share_within(latency, slo_us), latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout))
end
