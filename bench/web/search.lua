-- bench/web/search.lua: wrk script for POST /api/search over the sample knowledge base. The queries
-- rotate so the FTS and vector paths see different terms; responses other than 200 are counted.
-- KBOX_BENCH_AUTH, when set, is sent as the Authorization header (bench/web/auth.sh).
local auth = os.getenv("KBOX_BENCH_AUTH")
local queries = {"refund", "annual leave days", "warranty period", "delivery zones", "descale the kettle",
                 "how do I return a product", "grinder burr size", "退货", "保修期"}
local i = 0
local errors = 0
request = function()
  i = i + 1
  local body = '{"query":"' .. queries[(i % #queries) + 1] .. '","top_k":6}'
  local headers = {["Content-Type"] = "application/json"}
  if auth and auth ~= "" then headers["Authorization"] = auth end
  return wrk.format("POST", "/api/search", headers, body)
end
response = function(status)
  if status ~= 200 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx responses counted by script: %d\n", errors))
end
