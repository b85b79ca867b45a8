-- Next edits: after an edit pauses, ask the server (`textDocument/copilotInlineEdit`) for
-- the edit the user will make next, and show it where it would go (the text it replaces
-- highlighted, the new text after the line). `jump()` moves there, `accept()` makes it
-- and asks for the one after (a rename's next use).
local config = require("bigcode.config")
local client = require("bigcode.client")
local timer = require("bigcode.timer")

local M = {}
local ns = vim.api.nvim_create_namespace("bigcode_next_edit")
-- `shown`: { bufnr, srow, scol, erow, ecol, text, tick } of the edit on screen.
local state = { timer = nil, shown = nil }

function M.clear()
  timer.stop(state)
  if state.shown then
    pcall(vim.api.nvim_buf_clear_namespace, state.shown.bufnr, ns, 0, -1)
  end
  state.shown = nil
end

-- (row, byte column) of an LSP position (UTF-16 columns) in `bufnr`.
local function to_byte(bufnr, pos)
  local line = vim.api.nvim_buf_get_lines(bufnr, pos.line, pos.line + 1, false)[1] or ""
  local ok, col = pcall(vim.str_byteindex, line, pos.character, true)
  return pos.line, ok and col or #line
end

local function show(bufnr, edit, tick)
  M.clear()
  local srow, scol = to_byte(bufnr, edit.range.start)
  local erow, ecol = to_byte(bufnr, edit.range["end"])
  state.shown = { bufnr = bufnr, srow = srow, scol = scol, erow = erow, ecol = ecol, text = edit.text, tick = tick }
  local label = (edit.text:gsub("\n", "⏎"))
  local opts = config.options
  vim.api.nvim_buf_set_extmark(bufnr, ns, srow, scol, {
    end_row = erow,
    end_col = ecol,
    hl_group = opts.next_edit_hl,
    virt_text = { { " → " .. label .. " (" .. opts.next_edit_accept_key .. ")", opts.hl_group } },
    virt_text_pos = "eol",
  })
end

function M.request(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local c = client.get()
  if not c or not vim.lsp.buf_is_attached(bufnr, c.id) or not client.serves(bufnr) then
    return
  end
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row - 1, character = col },
  }
  client.call(c, "request", "textDocument/copilotInlineEdit", params, function(err, result)
    M.clear()
    local edit = not err and result and result.edits and result.edits[1]
    -- Only for the text it was asked about.
    if edit and vim.api.nvim_buf_is_valid(bufnr) and vim.api.nvim_buf_get_changedtick(bufnr) == tick then
      show(bufnr, edit, tick)
    end
  end, bufnr)
end

-- After a change: clear what is shown, ask again once the edits pause.
function M.schedule(bufnr)
  M.clear()
  timer.after(state, config.options.next_edit_ms, function() M.request(bufnr) end)
end

function M.visible()
  return state.shown ~= nil
end

-- Move the cursor to the shown edit; false when none is shown.
function M.jump()
  local s = state.shown
  if not s or vim.api.nvim_get_current_buf() ~= s.bufnr then
    return false
  end
  vim.api.nvim_win_set_cursor(0, { s.srow + 1, s.scol })
  return true
end

-- Make the shown edit (if the text is still what it was proposed for) and ask for the next.
function M.accept()
  local s = state.shown
  if not s or not vim.api.nvim_buf_is_valid(s.bufnr) or vim.api.nvim_buf_get_changedtick(s.bufnr) ~= s.tick then
    M.clear()
    return false
  end
  M.clear()
  local lines = vim.split(s.text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(s.bufnr, s.srow, s.scol, s.erow, s.ecol, lines)
  M.schedule(s.bufnr)
  return true
end

return M
