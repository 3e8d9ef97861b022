-- wrk script: POSTs the JSON bodies listed one per line in $BENCH_BODIES, cycling through them,
-- and prints one machine-readable result line (percentiles in microseconds, including p99.9).
local path = os.getenv("BENCH_BODIES")
assert(path, "set BENCH_BODIES to a file of request bodies, one per line")

local bodies = {}
for line in io.lines(path) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
assert(#bodies > 0, "no request bodies in " .. path)

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

-- Every run uses request() (even with one body) so wrk's own cost per request is the same for
-- every system; the requests are formatted once per thread, so request() only picks one.
local requests = {}
local i = 0
local threads = 0

-- setup() runs in the main state, init() in each thread's: threads start at different offsets.
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end

function init(args)
  for n, body in ipairs(bodies) do
    requests[n] = wrk.format(nil, nil, nil, body)
  end
  i = (offset or 0) % #requests
end

function request()
  i = i % #requests + 1
  return requests[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
