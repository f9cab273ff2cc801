-- Appends a random key to the request path — a filing number, an institution
-- id, a Unified Social Credit Code or a name of the load-test data — so every
-- request looks up a different record. /healthz is left as it is.
local provinces = {"11", "12", "31", "32", "33", "37", "42", "43", "44", "46", "50", "51"}
math.randomseed(os.time())
-- Unified Social Credit Codes and names of the load-test institutions, one a
-- line (bench/public_lookup.sh writes the files).
local function lines(path)
  local t = {}
  local f = io.open(path, "r")
  if f then
    for line in f:lines() do t[#t + 1] = line end
    f:close()
  end
  return t
end
local codes = lines("bench/out/codes.txt")
local full_names = lines("bench/out/names_full.txt")
local part_names = lines("bench/out/names_part.txt")
local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
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
  elseif path:find("q=FULL$") and #full_names > 0 then
    path = path:sub(1, -5) .. urlencode(full_names[math.random(1, #full_names)])
  elseif path:find("q=PART$") and #part_names > 0 then
    path = path:sub(1, -5) .. urlencode(part_names[math.random(1, #part_names)])
  end
  return wrk.format(nil, path)
end
