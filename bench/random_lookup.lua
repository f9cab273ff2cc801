-- Appends a random key to the request path: a filing number, an institution
-- id, or a Unified Social Credit Code prefix of the load-test data, so every
-- request looks up a different record. /healthz is left as it is.
local provinces = {"11", "12", "31", "32", "33", "37", "42", "43", "44", "46", "50", "51"}
math.randomseed(os.time())
-- Unified Social Credit Codes of the load-test institutions, one a line
-- (bench/public_lookup.sh writes the file).
local codes = {}
local f = io.open("bench/out/codes.txt", "r")
if f then
  for line in f:lines() do codes[#codes + 1] = line end
  f:close()
end
request = function()
  local path = wrk.path
  if path == "/healthz" then
    return wrk.format(nil, path)
  end
  local i = math.random(0, 9999)
  local k = math.random(0, 9)
  if path:find("/projects?/$") then
    path = path .. string.format("BMT-%s-2026-L-%07d", provinces[(i % 12) + 1], i * 10 + k)
  elseif path:find("/institutions/$") or path:find("/org/$") then
    path = path .. string.format("org-load-%06d", i)
  elseif path:find("q=CODE$") and #codes > 0 then
    path = path:sub(1, -5) .. codes[math.random(1, #codes)]
  elseif path:find("q=FULL$") then
    -- The whole name: every load-test name shares "Load-test Hospital", the
    -- worst case for a trigram index.
    path = path:sub(1, -5) .. string.format("Load-test%%20Hospital%%20%06d", i)
  elseif path:find("q=$") then
    -- The distinctive part of a name, as people type it.
    path = path .. string.format("%06d", i)
  end
  return wrk.format(nil, path)
end
