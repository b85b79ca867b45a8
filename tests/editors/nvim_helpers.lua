-- What the headless Neovim tests share: failing loudly, a watchdog, the client on the
-- runtime path. Env: BIGCODE_REPO.
local M = {}

function M.fail(msg)
  io.stderr:write("BIGCODE-NVIM-FAIL: " .. msg .. "\n")
  vim.cmd("cq!")
end

local watchdog = (vim.uv or vim.loop).new_timer()
watchdog:start(100000, 0, vim.schedule_wrap(function() M.fail("timeout") end))

vim.opt.runtimepath:prepend(os.getenv("BIGCODE_REPO") .. "/editors/nvim")
vim.opt.swapfile = false
vim.cmd("filetype on") -- -u skips the defaults that turn it on

-- The server command for the test model.
M.cmd = { os.getenv("BIGCODE_PYTHON"), "-m", "lsp_server", "--model", os.getenv("BIGCODE_MODEL"), "--threads", "1" }

-- Run the test body `fn` once Neovim has started; report its outcome and quit.
function M.run(fn)
  vim.api.nvim_create_autocmd("VimEnter", {
    nested = true, -- so that :edit fires FileType, which starts the client
    callback = function()
      local ok, err = pcall(fn)
      if not ok then
        M.fail(tostring(err))
        return
      end
      io.stdout:write("BIGCODE-NVIM-OK\n")
      vim.cmd("qa!")
    end,
  })
end

return M
