-- bigcode-ls for Neovim: local AI inline completion.
--   require("bigcode").setup({ cmd = { "bigcode-ls" }, settings = { maxNewTokens = 64 } })
local config = require("bigcode.config")
local client = require("bigcode.client")
local next_edit = require("bigcode.next_edit")
local rest = require("bigcode.rest")
local suggestion = require("bigcode.suggestion")

local M = { rest = rest, next_edit = next_edit }

local function builtin_inline()
  return config.options.use_builtin and vim.lsp.inline_completion ~= nil
end

local function map_keys(bufnr, accept)
  local opts = config.options
  local key = vim.api.nvim_replace_termcodes(opts.accept_key, true, false, true)
  vim.keymap.set("i", opts.accept_key, function()
    -- Not an <expr> mapping: those may not change the buffer.
    if not accept() then
      vim.api.nvim_feedkeys(key, "n", false)
    end
  end, { buffer = bufnr, desc = "bigcode: accept suggestion" })
  vim.keymap.set("i", opts.dismiss_key, suggestion.clear, { buffer = bufnr, desc = "bigcode: dismiss" })
  if not builtin_inline() then
    vim.keymap.set("i", opts.accept_word_key, suggestion.accept_word, { buffer = bufnr, desc = "bigcode: accept a word" })
    vim.keymap.set("i", opts.accept_line_key, suggestion.accept_line, { buffer = bufnr, desc = "bigcode: accept a line" })
    vim.keymap.set("i", opts.next_key, function() suggestion.cycle(1) end, { buffer = bufnr, desc = "bigcode: next suggestion" })
    vim.keymap.set("i", opts.prev_key, function() suggestion.cycle(-1) end, { buffer = bufnr, desc = "bigcode: previous suggestion" })
  end
end

local function map_next_edit(bufnr)
  local opts = config.options
  local function key(lhs, action, desc)
    local code = vim.api.nvim_replace_termcodes(lhs, true, false, true)
    vim.keymap.set({ "n", "i" }, lhs, function()
      if not action() then
        vim.api.nvim_feedkeys(code, "n", false)
      end
    end, { buffer = bufnr, desc = desc })
  end
  key(opts.next_edit_jump_key, next_edit.jump, "bigcode: jump to the next edit")
  key(opts.next_edit_accept_key, next_edit.accept, "bigcode: make the next edit")
  local group = vim.api.nvim_create_augroup("bigcode_next_edit_" .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "TextChanged", "TextChangedI" }, {
    group = group, buffer = bufnr, callback = function() next_edit.schedule(bufnr) end,
  })
  vim.api.nvim_create_autocmd("BufLeave", { group = group, buffer = bufnr, callback = next_edit.clear })
end

local function attach(bufnr)
  if not client.start(bufnr) then
    return
  end
  if config.options.next_edits then
    map_next_edit(bufnr)
  end
  if config.options.rest_ms > 0 then
    local rests = vim.api.nvim_create_augroup("bigcode_rest_" .. bufnr, { clear = true })
    vim.api.nvim_create_autocmd("CursorMovedI", {
      group = rests, buffer = bufnr, callback = function() rest.moved(bufnr) end,
    })
    vim.api.nvim_create_autocmd("InsertEnter", {
      group = rests, buffer = bufnr, callback = function() rest.moved(bufnr, true) end,
    })
  end
  if builtin_inline() then
    -- Neovim 0.12+: its own ghost text and request handling; we only map the keys.
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
    map_keys(bufnr, vim.lsp.inline_completion.get)
    return
  end
  map_keys(bufnr, suggestion.accept)
  local group = vim.api.nvim_create_augroup("bigcode_buf_" .. bufnr, { clear = true })
  if config.options.auto_trigger then
    vim.api.nvim_create_autocmd({ "TextChangedI", "TextChangedP" }, {
      group = group, buffer = bufnr, callback = suggestion.schedule,
    })
  end
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group, buffer = bufnr, callback = suggestion.clear,
  })
  vim.api.nvim_create_autocmd("CursorMovedI", {
    group = group, buffer = bufnr,
    callback = function()
      if suggestion.visible() and not suggestion.at_cursor() then
        suggestion.clear()
      end
    end,
  })
end

-- A buffer of a file type setup() was given ("*": any buffer that holds a file's text).
local function wanted(bufnr)
  local ft, filetypes = vim.bo[bufnr].filetype, config.options.filetypes
  if vim.tbl_contains(filetypes, "*") then
    return ft ~= "" and vim.bo[bufnr].buftype == ""
  end
  return vim.tbl_contains(filetypes, ft)
end

function M.setup(user)
  local opts = config.merge(user)
  local group = vim.api.nvim_create_augroup("bigcode", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = vim.tbl_contains(opts.filetypes, "*") and "*" or opts.filetypes,
    callback = function(args)
      if wanted(args.buf) then
        attach(args.buf)
      end
    end,
  })
  vim.api.nvim_create_user_command("BigcodeRestart", client.restart, {})
  vim.api.nvim_create_user_command("BigcodeSuggest", suggestion.request, {})
  -- Buffers already open when setup() runs.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and wanted(bufnr) then
      attach(bufnr)
    end
  end
end

-- For a statusline: "bigcode: loading model 40%" while the model loads, "" otherwise.
--   vim.o.statusline = "%f %= %{v:lua.require'bigcode'.status()}"
function M.status()
  return client.loading and ("bigcode: " .. client.loading) or ""
end

M.suggestion = suggestion
M.client = client
return M
