-- wrk script for benchmarks.service_load; settings come from the environment (see there).
-- POSTs JSON bodies, one per line of BENCH_BODIES, rotating so that the texts vary, each with its
-- own external_id (BENCH_ID_PREFIX, thread, count), as an intake system sends them. At a deadline
-- shared by all threads (BENCH_SECONDS after the start) connections stop sending; each thread
-- waits for its requests in flight and stops, so every request the server answered is counted
-- here: the stored-predictions check needs exact counts. A shared deadline matters: gunicorn's
-- sync workers block on idle connections, so no connection may idle while others still send.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC: one clock for all threads
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")

local threads, shared_deadline = {}, nil
function setup(thread)
  shared_deadline = shared_deadline or now() + tonumber(os.getenv("BENCH_SECONDS"))
  thread:set("index", #threads)
  thread:set("deadline", shared_deadline)
  threads[#threads + 1] = thread
end

function init(args)
  cursor = index * 997 -- threads start at different texts
  made, id_prefix = 0, os.getenv("BENCH_ID_PREFIX") .. "-" .. index .. "-"
  sent, ok, failed, started, finished, stopping = 0, 0, 0, nil, nil, false
end

local function stop_when_idle()
  if stopping and sent == ok + failed then wrk.thread:stop() end
end

-- wrk asks delay() before each request it sends (request() is also called once unsent).
function delay()
  started = started or now()
  if now() >= deadline then
    stopping = true
    stop_when_idle()
    return 3600000 -- send nothing more
  end
  sent = sent + 1
  return 0
end

function request()
  cursor = cursor % #bodies + 1
  made = made + 1
  -- each body is a JSON object: the id goes in after its opening brace
  local body = '{"external_id": "' .. id_prefix .. made .. '", ' .. bodies[cursor]:sub(2)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else failed = failed + 1 end
  finished = now()
  stop_when_idle()
end

function done(summary, latency, requests)
  local total = { sent = 0, ok = 0, failed = 0 }
  local first, last = math.huge, 0
  for _, thread in ipairs(threads) do
    for name in pairs(total) do total[name] = total[name] + thread:get(name) end
    first = math.min(first, thread:get("started") or math.huge)
    last = math.max(last, thread:get("finished") or 0)
  end
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"sent": %d, "ok": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"seconds": %.6f, "p50_us": %d, "p99_us": %d}\n', total.sent, total.ok, total.failed,
    e.connect + e.read + e.write + e.timeout, math.max(last - first, 1e-9),
    latency:percentile(50), latency:percentile(99)))
end
