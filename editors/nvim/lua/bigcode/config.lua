-- Options and their defaults. The server owns all model and FIM knowledge; these only
-- say how to start it and how to show its suggestions.
local M = {}

M.defaults = {
  cmd = { "bigcode-ls" }, -- the server command (stdio)
  -- Start for these filetypes ("*": any file buffer); in a language the server says its
  -- model does not complete (bigcode/status "languages") nothing is asked.
  filetypes = { "*" },
  settings = {}, -- sent as initializationOptions.bigcode (see the server's README)
  debounce_ms = 150, -- wait this long after a keystroke before asking
  rest_ms = 200, -- tell the server where the cursor rests after this long (0: never)
  accept_key = "<Tab>", -- accepts a shown suggestion; otherwise the key does what it did
  dismiss_key = "<C-]>",
  accept_word_key = "<M-Right>", -- the next word of the suggestion (our display, < 0.12)
  accept_line_key = "<M-Down>", -- the rest of its current line
  next_key = "<M-]>", -- the next of several suggestions offered (Copilot's keys)
  prev_key = "<M-[>",
  hl_group = "Comment",
  auto_trigger = true, -- ask after each change in insert mode
  use_builtin = true, -- on Neovim >= 0.12 use vim.lsp.inline_completion instead
  -- Offer the suggestion as an LSP completion item too (omnifunc, nvim-cmp). Off: the
  -- ghost text shows it already, and a second language server's menu stays its own.
  lsp_completion = false,
  -- Next edits (textDocument/copilotInlineEdit): asked after edits pause this long.
  next_edits = true,
  next_edit_ms = 300,
  next_edit_jump_key = "<M-n>", -- move to the proposed edit (normal and insert mode)
  next_edit_accept_key = "<M-a>", -- make it (and see the one after)
  next_edit_hl = "DiffText", -- the text it would replace
}

M.options = vim.deepcopy(M.defaults)

function M.merge(user)
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), user or {})
  return M.options
end

return M
