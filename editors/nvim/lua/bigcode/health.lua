-- :checkhealth bigcode
local config = require("bigcode.config")
local client = require("bigcode.client")

local M = {}
local h = vim.health or require("health")
local start = h.start or h.report_start
local ok = h.ok or h.report_ok
local warn = h.warn or h.report_warn
local err = h.error or h.report_error

function M.check()
  start("bigcode-ls")
  local exe = config.options.cmd[1]
  if vim.fn.executable(exe) == 1 then
    ok("server command found: " .. exe)
  else
    err("server command not found: " .. exe .. " (pip install bigcode-ls, or set cmd in setup{})")
  end
  local c = client.get()
  if not c or client.call(c, "is_stopped") then
    warn("no bigcode-ls client is running (open a file of a configured filetype)")
    return
  end
  local result = client.call(c, "request_sync", "bigcode/status", {}, 2000)
  if not result or result.err then
    err("the server did not answer bigcode/status")
  elseif result.result.loadError ~= vim.NIL and result.result.loadError then
    err("the model failed to load: " .. result.result.loadError)
  elseif result.result.model ~= vim.NIL and result.result.model then
    ok("model: " .. result.result.model)
    if result.result.demonstration == true then
      warn(result.result.advice)
    end
  else
    warn("the model is still loading")
  end
end

return M
