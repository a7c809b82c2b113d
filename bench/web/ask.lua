-- bench/web/ask.lua: wrk script for non-streamed extractive POST /api/ask over the sample knowledge base.
local questions = {"How many days do I have to return a product?", "How many days of paid annual leave do employees get?",
                   "What is the warranty period of the Osprey kettle?", "How long does a refund take?",
                   "鹪鹩电水壶的价格是多少？"}
local i = 0
request = function()
  i = i + 1
  local body = '{"question":"' .. questions[(i % #questions) + 1] .. '","stream":false}'
  return wrk.format("POST", "/api/ask", {["Content-Type"] = "application/json"}, body)
end
