-- bench/web/search.lua: wrk script for POST /api/search over the sample knowledge base. The queries
-- rotate so the FTS and vector paths see different terms; responses other than 200 are counted.
local queries = {"refund", "annual leave days", "warranty period", "delivery zones", "descale the kettle",
                 "how do I return a product", "grinder burr size", "退货", "保修期"}
local i = 0
local errors = 0
request = function()
  i = i + 1
  local body = '{"query":"' .. queries[(i % #queries) + 1] .. '","top_k":6}'
  return wrk.format("POST", "/api/search", {["Content-Type"] = "application/json"}, body)
end
response = function(status)
  if status ~= 200 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx responses counted by script: %d\n", errors))
end
