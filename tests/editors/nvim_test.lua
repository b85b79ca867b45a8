-- Headless Neovim test of editors/nvim against the real server.
-- Env: BIGCODE_REPO, BIGCODE_PYTHON, BIGCODE_MODEL, BIGCODE_FILE.
local function fail(msg)
  io.stderr:write("BIGCODE-NVIM-FAIL: " .. msg .. "\n")
  vim.cmd("cq!")
end

local watchdog = vim.loop.new_timer()
watchdog:start(90000, 0, vim.schedule_wrap(function() fail("timeout") end))

vim.opt.runtimepath:prepend(os.getenv("BIGCODE_REPO") .. "/editors/nvim")
vim.opt.swapfile = false
vim.cmd("filetype on") -- -u skips the defaults that turn it on
local bigcode = require("bigcode")
bigcode.setup({
  cmd = { os.getenv("BIGCODE_PYTHON"), "-m", "lsp_server", "--model", os.getenv("BIGCODE_MODEL"), "--threads", "1" },
  settings = { maxNewTokens = 4, tokenHealing = false },
  debounce_ms = 10,
  use_builtin = false, -- test our ghost text on every version
  lsp_completion = true, -- and the completion item (omnifunc, menus)
})

vim.api.nvim_create_autocmd("VimEnter", {
  nested = true, -- so that :edit fires FileType, which starts the client
  callback = function()
    local ok, err = pcall(function()
      vim.cmd("edit " .. os.getenv("BIGCODE_FILE"))
      local bufnr = vim.api.nvim_get_current_buf()
      assert(vim.bo.filetype == "python", "filetype " .. vim.bo.filetype)
      assert(vim.wait(30000, function()
        local c = bigcode.client.get()
        return c ~= nil and c.initialized and vim.lsp.buf_is_attached(bufnr, c.id)
      end, 50), "client did not start")
      -- Line 2 is "value = f()"; the cursor on ")" means the LSP position before it.
      vim.api.nvim_win_set_cursor(0, { 2, 10 })
      local shown = false
      for _ = 1, 60 do -- the model may still be loading: ask until it answers
        bigcode.suggestion.request()
        if vim.wait(1000, bigcode.suggestion.visible, 20) then
          shown = true
          break
        end
      end
      assert(shown, "no ghost text appeared")
      -- The model's loading was reported, and is over.
      assert(bigcode.client.progress_seen, "no $/progress seen while the model loaded")
      assert(bigcode.status() == "", "status after loading: " .. bigcode.status())
      local ns = vim.api.nvim_get_namespaces()["bigcode"]
      local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
      assert(#marks == 1, "expected one extmark, got " .. #marks)
      local ghost = marks[1][4].virt_text[1][1]
      assert(ghost == "xxxx", "ghost text was " .. vim.inspect(ghost))
      -- What a person sees: the ghost text exactly where it will be inserted.
      local function screen_row(r)
        vim.cmd("redraw!")
        local chars = {}
        for c = 1, 40 do
          chars[c] = vim.fn.nr2char(vim.fn.screenchar(r, c))
        end
        return (table.concat(chars):gsub("%s+$", ""))
      end
      assert(screen_row(2) == "value = f(xxxx)", "screen: " .. screen_row(2))
      assert(bigcode.suggestion.accept(), "accept failed")
      local line = vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1]
      assert(line == "value = f(xxxx)", "line after accept: " .. line)
      assert(#vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, {}) == 0, "ghost text left behind")
      -- Plain textDocument/completion (what nvim-cmp's LSP source and omnifunc use).
      local line_now = vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1]
      local params = {
        textDocument = { uri = vim.uri_from_bufnr(bufnr) },
        position = { line = 1, character = #line_now - 1 },
      }
      local replies = vim.lsp.buf_request_sync(bufnr, "textDocument/completion", params, 20000)
      local found = false
      for _, reply in pairs(replies or {}) do
        for _, item in ipairs((reply.result or {}).items or {}) do
          found = found or item.textEdit.newText == "xxxxxxxx"
        end
      end
      assert(found, "completion items: " .. vim.inspect(replies))
      -- The acceptance counts reached the server: one shown and accepted above; then one
      -- shown and dismissed, and one taken a word at a time (a partial accept).
      local function acceptance()
        local got = vim.lsp.buf_request_sync(bufnr, "bigcode/status", {}, 10000)
        for _, reply in pairs(got or {}) do
          if reply.result then
            return (reply.result.acceptance or {}).python or {}
          end
        end
        return {}
      end
      local a = acceptance()
      assert(a.accepted == 1 and a.shown >= 1, "after an accept: " .. vim.inspect(a))
      local function ask()
        for _ = 1, 20 do
          bigcode.suggestion.request()
          if vim.wait(1000, bigcode.suggestion.visible, 20) then
            return
          end
        end
        error("no suggestion to dismiss")
      end
      ask()
      bigcode.suggestion.clear()
      a = acceptance()
      assert(a.dismissed == 1 and a.partial == 0, "after a dismissal: " .. vim.inspect(a))
      ask()
      local r, c = unpack(vim.api.nvim_win_get_cursor(0))
      bigcode.suggestion.show(bufnr, r - 1, c, "ab cd") -- the same suggestion, two words
      assert(bigcode.suggestion.accept_word(), "accept_word")
      bigcode.suggestion.clear()
      a = acceptance()
      assert(a.partial == 1 and a.acceptedChars == 4 + 2, "after a partial: " .. vim.inspect(a))
      -- Mid-word and at the end of a line, on a scratch buffer (display only).
      vim.cmd("enew")
      local scratch = vim.api.nvim_get_current_buf()
      vim.api.nvim_buf_set_lines(scratch, 0, -1, false, { "fr i in range(10):", "x = " })
      bigcode.suggestion.show(scratch, 0, 1, "o")
      assert(screen_row(1) == "for i in range(10):", "mid-word: " .. screen_row(1))
      bigcode.suggestion.show(scratch, 1, 4, "compute()")
      assert(screen_row(2) == "x = compute()", "end of line: " .. screen_row(2))
      assert(screen_row(1) == "fr i in range(10):", "old ghost left: " .. screen_row(1))
      -- Partial accept: a word, then a line; the rest stays shown at the cursor. (A test
      -- runs in normal mode, where the cursor cannot sit after a line's end as in insert.)
      vim.o.virtualedit = "onemore"
      vim.api.nvim_buf_set_lines(scratch, 0, -1, false, { "y = " })
      vim.api.nvim_win_set_cursor(0, { 1, 4 })
      bigcode.suggestion.show(scratch, 0, 4, "foo(bar, 1)\nbaz = 2")
      assert(bigcode.suggestion.accept_word(), "accept_word")
      local now = vim.api.nvim_buf_get_lines(scratch, 0, -1, false)
      assert(now[1] == "y = foo", "after a word: " .. vim.inspect(now))
      assert(bigcode.suggestion.at_cursor(), "the rest is not at the cursor")
      assert(screen_row(1) == "y = foo(bar, 1)", "rest shown: " .. screen_row(1))
      assert(bigcode.suggestion.accept_word(), "accept_word again")
      assert(vim.api.nvim_buf_get_lines(scratch, 0, 1, false)[1] == "y = foo(bar")
      assert(bigcode.suggestion.accept_line(), "accept_line")
      now = vim.api.nvim_buf_get_lines(scratch, 0, -1, false)
      assert(now[1] == "y = foo(bar, 1)" and now[2] == "", "after a line: " .. vim.inspect(now))
      assert(bigcode.suggestion.visible(), "the last line is no longer shown")
      assert(bigcode.suggestion.accept(), "accept the rest")
      now = vim.api.nvim_buf_get_lines(scratch, 0, -1, false)
      assert(now[2] == "baz = 2" and not bigcode.suggestion.visible(), vim.inspect(now))
      bigcode.suggestion.clear()
      vim.cmd("bwipeout!")
      -- The cursor comes to rest somewhere else (the CursorMovedI autocmd, as in insert
      -- mode): after rest_ms the server is told, once; a move made by typing is not.
      local function rests()
        local got = vim.lsp.buf_request_sync(bufnr, "bigcode/status", {}, 10000)
        for _, reply in pairs(got or {}) do
          if reply.result then
            return reply.result.cursorRests
          end
        end
      end
      local rests_before = rests()
      vim.api.nvim_win_set_cursor(0, { 1, 0 })
      vim.api.nvim_exec_autocmds("CursorMovedI", { buffer = bufnr })
      assert(vim.wait(5000, function() return rests() == rests_before + 1 end, 100),
        "the rest was not reported: " .. tostring(rests()))
      vim.api.nvim_buf_set_lines(bufnr, 0, 0, false, { "# typed" })
      vim.api.nvim_exec_autocmds("CursorMovedI", { buffer = bufnr })
      vim.wait(600)
      assert(rests() == rests_before + 1, "a move made by typing was reported")
      vim.api.nvim_buf_set_lines(bufnr, 0, 1, false, {})
      -- Several suggestions: M-] and M-[ cycle through them where they are shown.
      vim.cmd("enew")
      local cyc = vim.api.nvim_get_current_buf()
      vim.api.nvim_buf_set_lines(cyc, 0, -1, false, { "x = " })
      bigcode.suggestion.show_items(cyc, 0, 4, { "first()", "second()", "third()" })
      assert(screen_row(1) == "x = first()", "first: " .. screen_row(1))
      assert(bigcode.suggestion.cycle(1) and screen_row(1) == "x = second()", "next: " .. screen_row(1))
      assert(bigcode.suggestion.cycle(-1) and bigcode.suggestion.cycle(-1), "previous twice")
      assert(screen_row(1) == "x = third()", "wraps to the last: " .. screen_row(1))
      bigcode.suggestion.clear()
      assert(not bigcode.suggestion.cycle(1), "cycled with nothing shown")
      vim.cmd("bwipeout!")
      -- A dismissed suggestion leaves nothing behind.
      bigcode.suggestion.show(bufnr, 0, 0, "zzz")
      bigcode.suggestion.clear()
      assert(not bigcode.suggestion.visible())
      -- :checkhealth bigcode finds the running server and its model.
      vim.cmd("checkhealth bigcode")
      local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
      assert(report:find("model: ", 1, true), "health report: " .. report)
      assert(not report:find("ERROR", 1, true), "health report: " .. report)
    end)
    if not ok then
      fail(tostring(err))
      return
    end
    io.stdout:write("BIGCODE-NVIM-OK " .. tostring(vim.version().minor) .. "\n")
    vim.cmd("qa!")
  end,
})
