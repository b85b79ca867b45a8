-- Typing into Neovim with the bigcode client: how many completion requests reach the
-- server per 100 keys, at a given debounce. Driven by bench/debounce.py.
-- Env: BIGCODE_REPO, BIGCODE_PYTHON, BIGCODE_FILE, BIGCODE_DEBOUNCE_MS, BIGCODE_TYPED.
vim.opt.runtimepath:prepend(os.getenv("BIGCODE_REPO") .. "/editors/nvim")
vim.opt.swapfile = false
vim.cmd("filetype on")
local bigcode = require("bigcode")
bigcode.setup({
  cmd = { os.getenv("BIGCODE_PYTHON"), "-m", "lsp_server", "--threads", "1" },
  debounce_ms = tonumber(os.getenv("BIGCODE_DEBOUNCE_MS")),
  use_builtin = false,
  auto_trigger = false, -- the script calls schedule() as TextChangedI would
})
-- Gaps between keys (ms): bursts inside words, pauses at punctuation and to think.
local GAPS = { 70, 90, 60, 110, 80, 250, 75, 95, 65, 400, 85, 120 }

vim.api.nvim_create_autocmd("VimEnter", {
  nested = true,
  callback = function()
    vim.cmd("edit " .. os.getenv("BIGCODE_FILE"))
    local bufnr = vim.api.nvim_get_current_buf()
    vim.wait(60000, function()
      local c = bigcode.client.get()
      return c ~= nil and c.initialized and vim.lsp.buf_is_attached(bufnr, c.id)
    end, 50)
    vim.wait(60000, function() return bigcode.status() == "" end, 50)
    local typed = os.getenv("BIGCODE_TYPED")
    local row = vim.api.nvim_buf_line_count(bufnr)
    vim.api.nvim_buf_set_lines(bufnr, row, row, false, { "" })
    vim.o.virtualedit = "onemore"
    local col = 0
    for i = 1, #typed do
      local ch = typed:sub(i, i)
      vim.api.nvim_buf_set_text(bufnr, row, col, row, col, { ch })
      col = col + 1
      vim.api.nvim_win_set_cursor(0, { row + 1, col })
      bigcode.suggestion.schedule()
      vim.wait(GAPS[(i - 1) % #GAPS + 1], function() return false end, 5)
    end
    vim.wait(1500, function() return false end, 10)
    local got = vim.lsp.buf_request_sync(bufnr, "bigcode/status", {}, 10000)
    for _, reply in pairs(got or {}) do
      if reply.result then
        local r = reply.result
        io.stdout:write(string.format("BIGCODE-REQUESTS %d %d %d\n", r.completionRequests, r.requests, #typed))
      end
    end
    vim.cmd("qa!")
  end,
})
