-- Headless Neovim: bigcode-ls beside pylsp on the same Python buffer, then a JavaScript file.
-- Env: BIGCODE_REPO, BIGCODE_PYTHON, BIGCODE_MODEL, BIGCODE_FILE, BIGCODE_PYLSP.
package.path = os.getenv("BIGCODE_REPO") .. "/tests/editors/?.lua;" .. package.path
local helpers = require("nvim_helpers")
local fail = helpers.fail
local bigcode = require("bigcode")
bigcode.setup({ -- filetypes left at their default: any file
  cmd = helpers.cmd,
  settings = { maxNewTokens = 4, tokenHealing = false },
  debounce_ms = 10,
  use_builtin = false,
})
-- The user's own language server for Python.
vim.api.nvim_create_autocmd("FileType", {
  pattern = "python",
  callback = function(args)
    local cfg = { name = "pylsp", cmd = { os.getenv("BIGCODE_PYLSP") }, root_dir = vim.fn.getcwd() }
    local id = (vim.lsp.start or vim.lsp.start_client)(cfg, vim.lsp.start and { bufnr = args.buf } or nil)
    if not vim.lsp.start then
      vim.lsp.buf_attach_client(args.buf, id)
    end
  end,
})

local function client_named(bufnr, name)
  for _, c in pairs(vim.lsp.get_active_clients()) do
    if c.name == name and vim.lsp.buf_is_attached(bufnr, c.id) and c.initialized then
      return c
    end
  end
end

local function ghost(bufnr)
  for _ = 1, 60 do
    bigcode.suggestion.request()
    if vim.wait(1000, bigcode.suggestion.visible, 20) then
      local ns = vim.api.nvim_get_namespaces()["bigcode"]
      local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
      return marks[1][4].virt_text[1][1]
    end
  end
end

helpers.run(function()
  -- A JavaScript file first: the client starts for it (filetypes "*") and shows a suggestion.
  local js = os.getenv("BIGCODE_FILE"):gsub("%.py$", ".js")
  vim.cmd("edit " .. js)
  local jsbuf = vim.api.nvim_get_current_buf()
  assert(vim.bo.filetype == "javascript", "filetype " .. vim.bo.filetype)
  vim.api.nvim_buf_set_lines(jsbuf, 0, -1, false, { "const value = f();" })
  assert(vim.wait(10000, function() return client_named(jsbuf, "bigcode-ls") ~= nil end, 50),
    "bigcode-ls did not attach to the JavaScript buffer")
  vim.api.nvim_win_set_cursor(0, { 1, 16 })
  local shown = ghost(jsbuf)
  assert(shown == "xxxx", "JavaScript ghost text " .. vim.inspect(shown))
  bigcode.suggestion.clear()
  vim.cmd("edit " .. os.getenv("BIGCODE_FILE"))
  local bufnr = vim.api.nvim_get_current_buf()
  assert(vim.wait(30000, function()
    return client_named(bufnr, "bigcode-ls") and client_named(bufnr, "pylsp")
  end, 50), "both clients did not attach")
  vim.api.nvim_win_set_cursor(0, { 2, 10 })
  shown = ghost(bufnr)
  assert(shown == "xxxx", "ghost text " .. vim.inspect(shown))
  bigcode.suggestion.clear()
  -- pylsp's completions, and none from bigcode-ls: a completion menu (nvim-cmp, which
  -- asks every client that offers completionProvider) lists each item once.
  vim.api.nvim_buf_set_lines(bufnr, 2, 2, false, { "os.pa" })
  vim.api.nvim_win_set_cursor(0, { 3, 5 })
  local params = vim.lsp.util.make_position_params()
  local results = vim.lsp.buf_request_sync(bufnr, "textDocument/completion", params, 20000) or {}
  local big, py = client_named(bufnr, "bigcode-ls"), client_named(bufnr, "pylsp")
  assert(results[big.id] == nil, "bigcode-ls was asked for completion items")
  local answer = results[py.id] and results[py.id].result or {}
  local labels = {}
  for _, item in ipairs(answer.items or answer) do
    table.insert(labels, item.label)
  end
  assert(vim.tbl_contains(labels, "path"), "pylsp's items " .. vim.inspect(labels))
  -- The server's model completes every language here ("*"); one that knows Python
  -- only gets no requests from a JavaScript buffer.
  assert(vim.wait(5000, function() return bigcode.client.languages ~= nil end, 50), "languages unknown")
  assert(vim.tbl_contains(bigcode.client.languages, "*"), vim.inspect(bigcode.client.languages))
  bigcode.client.languages = { "python" }
  assert(not bigcode.client.serves(jsbuf) and bigcode.client.serves(bufnr), "serves()")
end)
