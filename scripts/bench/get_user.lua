-- GET /users/{random id} with a bearer token (TOKEN, MAXID from the environment).
local token = os.getenv("TOKEN")
local maxid = tonumber(os.getenv("MAXID") or "10000")
math.randomseed(42)
request = function()
  return wrk.format("GET", "/users/" .. math.random(1, maxid), {["Authorization"] = "Bearer " .. token})
end
