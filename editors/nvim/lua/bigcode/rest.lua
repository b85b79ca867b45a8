-- Where the cursor rests: after `rest_ms` without movement in insert mode, at a place the
-- cursor reached by moving (not by typing), tell the server (`bigcode/didMoveCursor`), so
-- that it computes that place's prompt while the user reads.
local config = require("bigcode.config")
local client = require("bigcode.client")

local timer = require("bigcode.timer")

local M = {}
local state = { timer = nil, tick = nil, sent = nil }

local function send(bufnr)
  local c = client.get()
  if not c or not vim.api.nvim_buf_is_valid(bufnr) or not vim.lsp.buf_is_attached(bufnr, c.id)
    or not client.serves(bufnr) then
    return
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or ""
  local _, utf16 = vim.str_utfindex(line, math.min(col, #line))
  local key = bufnr .. ":" .. row .. ":" .. utf16 .. ":" .. vim.api.nvim_buf_get_changedtick(bufnr)
  if key == state.sent then
    return
  end
  state.sent = key
  pcall(client.call, c, "notify", "bigcode/didMoveCursor", {
    textDocument = { uri = vim.uri_from_bufnr(bufnr), version = vim.lsp.util.buf_versions[bufnr] },
    position = { line = row - 1, character = utf16 },
  })
end

-- CursorMovedI / InsertEnter: a move restarts the wait; a move made by typing (the text
-- changed since the last move) does not count: the completion request after it already
-- computes that place. Entering insert mode always counts (`entered`): after a change
-- made in normal mode (a deletion), that is where typing starts.
function M.moved(bufnr, entered)
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  timer.stop(state)
  local typed = not entered and state.tick ~= nil and state.tick ~= tick
  state.tick = tick
  if typed then
    return
  end
  timer.after(state, config.options.rest_ms, function()
    if vim.api.nvim_get_current_buf() == bufnr then
      send(bufnr)
    end
  end)
end

return M
