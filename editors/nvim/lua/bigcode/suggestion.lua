-- Ghost text for Neovim < 0.12: ask for textDocument/inlineCompletion after a pause in
-- typing, show the answer with extmarks, accept or dismiss it. A newer request cancels
-- the older one, so the server never works on text the user has already changed.
local config = require("bigcode.config")
local client = require("bigcode.client")
local timer = require("bigcode.timer")

local M = {}
local ns = vim.api.nvim_create_namespace("bigcode")
-- `origin` is the server's suggestion being worked through (shown, then accepted in
-- parts or dismissed): what the acceptance notifications report, once per suggestion.
-- `keep_once`: our own partial accept changed the text; the next change keeps the rest.
local state = { timer = nil, request = nil, shown = nil, origin = nil, keep_once = false }

local has_inline_virt_text = vim.fn.has("nvim-0.10") == 1

local function cancel_pending()
  timer.stop(state)
  if state.request then
    local c = client.get()
    if c then
      client.call(c, "cancel_request", state.request)
    end
    state.request = nil
  end
end

local function notify(method, params)
  local c = client.get()
  if c then
    pcall(client.call, c, "notify", method, params)
  end
end

-- Tell the server what became of the suggestion: accepted (whole or in part) or dismissed.
local function resolve()
  local origin = state.origin
  state.origin = nil
  if not origin then
    return
  end
  if origin.accepted > 0 then
    notify("bigcode/didAcceptCompletion", {
      uri = origin.uri, text = origin.text, acceptedLength = origin.accepted, position = origin.position,
    })
  else
    notify("bigcode/didDismissCompletion", { uri = origin.uri, text = origin.text })
  end
end

-- `keep_origin`: a partial accept is redrawing the rest of the same suggestion.
function M.clear(keep_origin)
  cancel_pending()
  if state.shown then
    pcall(vim.api.nvim_buf_clear_namespace, state.shown.bufnr, ns, 0, -1)
  end
  state.shown = nil
  if not keep_origin then
    resolve()
  end
end

-- The LSP position of the cursor, in UTF-16 code units.
local function cursor_params(bufnr)
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or ""
  local _, utf16 = vim.str_utfindex(line, math.min(col, #line))
  return {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row - 1, character = utf16 },
    context = { triggerKind = 2 },
  }, row - 1, col
end

function M.show(bufnr, row, col, text)
  M.clear(true)
  if text == nil or text == "" then
    return
  end
  local lines = vim.split(text, "\n", { plain = true })
  local hl = config.options.hl_group
  local opts = { virt_text = { { lines[1], hl } }, hl_mode = "combine" }
  -- The text after the cursor ends up after the suggestion's last line.
  local rest = (vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""):sub(col + 1)
  if has_inline_virt_text then
    opts.virt_text_pos = "inline" -- pushes the rest of the line to the right by itself
  else
    -- Before 0.10 there is no inline virtual text ("eol" would draw it a column after the
    -- line's end): draw over the line from the cursor, the rest of the line redrawn after
    -- a one-line suggestion, blanked out (it moves down) after a longer one.
    opts.virt_text_pos = "overlay"
    if #lines == 1 then
      table.insert(opts.virt_text, { rest, "Normal" })
    else
      opts.virt_text[1][1] = lines[1] .. string.rep(" ", vim.fn.strdisplaywidth(rest))
    end
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do
      table.insert(opts.virt_lines, { { lines[i], hl } })
    end
    if not has_inline_virt_text then
      table.insert(opts.virt_lines[#opts.virt_lines], { rest, "Normal" })
    end
  end
  local id = vim.api.nvim_buf_set_extmark(bufnr, ns, row, col, opts)
  state.shown = { bufnr = bufnr, row = row, col = col, text = text, id = id }
  state.items, state.index = nil, nil
end

-- Several ranked suggestions: the first is shown, `M.cycle` shows the others in turn.
function M.show_items(bufnr, row, col, texts)
  M.show(bufnr, row, col, texts[1])
  state.items, state.index = texts, 1
end

-- Show the next (`step` 1) or previous (-1) of the suggestions offered at this place.
function M.cycle(step)
  local shown, items = state.shown, state.items
  if not shown or not items or #items < 2 then
    return false
  end
  local index = (state.index - 1 + step) % #items + 1
  local text = items[index]
  M.show(shown.bufnr, shown.row, shown.col, text)
  state.items, state.index = items, index -- `show` forgets them
  if state.origin then
    state.origin.text = text
    notify("bigcode/didShowCompletion", { uri = state.origin.uri, text = text })
  end
  return true
end

function M.request()
  local bufnr = vim.api.nvim_get_current_buf()
  local c = client.get()
  if not c or not vim.lsp.buf_is_attached(bufnr, c.id) or not client.serves(bufnr) then
    return
  end
  cancel_pending()
  local params, row, col = cursor_params(bufnr)
  local changedtick = vim.api.nvim_buf_get_changedtick(bufnr)
  local ok, request_id = client.call(c, "request", "textDocument/inlineCompletion", params, function(err, result)
    state.request = nil
    if err or not result then
      return
    end
    -- Drop answers for text or a cursor that has moved on.
    if vim.api.nvim_buf_get_changedtick(bufnr) ~= changedtick then
      return
    end
    local r, cl = unpack(vim.api.nvim_win_get_cursor(0))
    if r - 1 ~= row or cl ~= col then
      return
    end
    local texts = {}
    for _, item in ipairs(result.items or result or {}) do
      local text = type(item.insertText) == "table" and item.insertText.value or item.insertText
      if text and text ~= "" then
        table.insert(texts, text)
      end
    end
    if #texts > 0 then
      resolve()
      state.origin = { uri = params.textDocument.uri, text = texts[1], accepted = 0, position = params.position }
      notify("bigcode/didShowCompletion", { uri = state.origin.uri, text = texts[1] })
      M.show_items(bufnr, row, col, texts)
    end
  end, bufnr)
  if ok then
    state.request = request_id
  end
end

function M.schedule()
  if state.keep_once then -- our own partial accept changed the text: keep the rest shown
    state.keep_once = false
    return
  end
  M.clear()
  timer.after(state, config.options.debounce_ms, M.request)
end

function M.visible()
  return state.shown ~= nil
end

-- Insert `part` (the start of the shown text) and show what is left after it.
local function insert(shown, part)
  M.clear(true)
  if state.origin then
    state.origin.accepted = state.origin.accepted + vim.fn.strchars(part)
  end
  local lines = vim.split(part, "\n", { plain = true })
  vim.api.nvim_buf_set_text(shown.bufnr, shown.row, shown.col, shown.row, shown.col, lines)
  local last_row = shown.row + #lines - 1
  local last_col = (#lines == 1 and shown.col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { last_row + 1, last_col })
  local rest = shown.text:sub(#part + 1)
  if rest ~= "" then
    state.keep_once = true -- the change we just made must not clear what is left
    M.show(shown.bufnr, last_row, last_col, rest)
  else
    resolve() -- all of it taken
  end
end

function M.accept()
  local shown = state.shown
  if not shown then
    return false
  end
  insert(shown, shown.text)
  return true
end

-- Partial accept: the next word (with the spaces and punctuation before it), or the rest
-- of the current line (with its line break); the remainder stays on screen.
function M.accept_word()
  local shown = state.shown
  if not shown then
    return false
  end
  local part = shown.text:match("^[%s%p]*[%w_]+") or shown.text:match("^%s*[^%s]") or shown.text
  insert(shown, part)
  return true
end

function M.accept_line()
  local shown = state.shown
  if not shown then
    return false
  end
  insert(shown, shown.text:match("^[^\n]*\n?"))
  return true
end

-- Whether the cursor sits where the shown suggestion starts (moving there is no reason
-- to clear it).
function M.at_cursor()
  local shown = state.shown
  if not shown then
    return false
  end
  local r, c = unpack(vim.api.nvim_win_get_cursor(0))
  return r - 1 == shown.row and c == shown.col
end

return M
