-- post.lua: wrk script for the client_types route (adapted from ../shared/peers/wrk/post.lua:
-- same request and RESULT line; added: a product id per request, for multi-interaction cassettes).
--
-- Usage: wrk -s bench/post.lua http://127.0.0.1:PORT
-- Env:   PATH_PREFIX  what comes before /products/{id}/client_types (default /portal-api;
--                     "" for Prism, which ignores the spec's server base path)
--        PRODUCTS     product ids 1..PRODUCTS (default 1: always product 1), requested in
--                     turn; above 4096, a pool of 4096 ids drawn at random from 1..PRODUCTS
--        BODY, TOKEN  request body and Authorization (defaults {"ID": 11}, bench-token)
--        VARY_BODY    non-empty: a different body per request, {"ID": n} for n in 1..4096
--                     (so nothing the server keeps per body helps)
--        ORIGIN       non-empty: every request carries `Origin: $ORIGIN` (as a browser's
--                     cross-origin request does; the mock-cors target)
--
-- Prints ONE line that bench/loadgen.py parses:
--   RESULT requests=N duration_s=S rps=R p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
--          status_201=N non2xx=N sock_errors=N codes=201:N,...

local prefix = os.getenv("PATH_PREFIX") or "/portal-api"
local products = tonumber(os.getenv("PRODUCTS") or "1")
local body = os.getenv("BODY") or '{"ID": 11}'
local token = os.getenv("TOKEN") or "bench-token"
local vary = (os.getenv("VARY_BODY") or "") ~= ""
local origin = os.getenv("ORIGIN") or ""
local headers = {["Content-Type"] = "application/json"}
if token ~= "" then headers["Authorization"] = token end
if origin ~= "" then headers["Origin"] = origin end

-- Pre-format the requests: wrk.format per call would cost the load generator, not the target.
local requests = {}
local pool = vary and 4096 or math.min(products, 4096)

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  codes = {}          -- per-thread status -> count (global so that thread:get sees it)
  math.randomseed(os.time())
  for i = 1, pool do
    local id = (pool == products) and i or math.random(products)
    local sent = vary and ('{"ID": ' .. i .. '}') or body
    requests[i] = wrk.format("POST", prefix .. "/products/" .. id .. "/client_types", headers, sent)
  end
end

local n = 0
function request()
  n = n + 1
  return requests[(n % pool) + 1]
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for status, count in pairs(t:get("codes")) do
      all[status] = (all[status] or 0) + count
    end
  end
  local keys, parts, non2xx = {}, {}, 0
  for status in pairs(all) do table.insert(keys, status) end
  table.sort(keys)
  for _, status in ipairs(keys) do
    table.insert(parts, status .. ":" .. all[status])
    if status < 200 or status > 299 then non2xx = non2xx + all[status] end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "status_201=%d non2xx=%d sock_errors=%d codes=%s\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    all[201] or 0, non2xx, e.connect + e.read + e.write + e.timeout,
    #parts > 0 and table.concat(parts, ",") or "none"))
end
