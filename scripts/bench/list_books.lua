-- GET /books?limit=20&offset=<random page among the first 400>.
math.randomseed(7)
request = function()
  return wrk.format("GET", "/books?limit=20&offset=" .. (math.random(0, 400) * 20))
end
