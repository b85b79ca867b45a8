-- Headless Neovim: a rename by hand, then the next edits shown, jumped to and made.
-- Env: BIGCODE_REPO, BIGCODE_PYTHON, BIGCODE_MODEL, BIGCODE_FILE.
package.path = os.getenv("BIGCODE_REPO") .. "/tests/editors/?.lua;" .. package.path
local helpers = require("nvim_helpers")
local fail = helpers.fail
local bigcode = require("bigcode")
bigcode.setup({
  cmd = helpers.cmd,
  settings = { maxNewTokens = 2 },
  next_edit_ms = 20,
  use_builtin = false,
})

helpers.run(function()
  vim.cmd("edit " .. os.getenv("BIGCODE_FILE"))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, {
    "def total(count):", "    value = count * 2", "    return value + count",
  })
  assert(vim.wait(30000, function()
    local c = bigcode.client.get()
    return c ~= nil and c.initialized and vim.lsp.buf_is_attached(bufnr, c.id)
  end, 50), "client did not start")
  local ne = bigcode.next_edit
  -- `count` in the def line selected and retyped as `n`.
  vim.api.nvim_buf_set_text(bufnr, 0, 10, 0, 15, { "" })
  vim.api.nvim_buf_set_text(bufnr, 0, 10, 0, 10, { "n" })
  vim.api.nvim_win_set_cursor(0, { 1, 11 })
  ne.request(bufnr)
  assert(vim.wait(10000, ne.visible, 20), "no next edit shown")
  local ns = vim.api.nvim_get_namespaces()["bigcode_next_edit"]
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
  assert(#marks == 1 and marks[1][2] == 1 and marks[1][3] == 12, vim.inspect(marks))
  local label = marks[1][4].virt_text[1][1]
  assert(label:find("→ n", 1, true), "label " .. label)
  -- The keys are mapped; jump, then accept: the edit is made, the next one shown.
  assert(vim.fn.maparg("<M-n>", "n") ~= "" and vim.fn.maparg("<M-a>", "i") ~= "", "keys not mapped")
  assert(ne.jump(), "jump")
  local r, c = unpack(vim.api.nvim_win_get_cursor(0))
  assert(r == 2 and c == 12, "cursor at " .. r .. "," .. c)
  assert(ne.accept(), "accept")
  assert(vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1] == "    value = n * 2", "after accept")
  assert(vim.wait(10000, ne.visible, 20), "no second next edit")
  assert(ne.accept(), "second accept")
  local last = vim.api.nvim_buf_get_lines(bufnr, 2, 3, false)[1]
  assert(last == "    return value + n", "after the second accept: " .. last)
  -- A comment typed: nothing is proposed.
  vim.api.nvim_buf_set_lines(bufnr, 3, 3, false, { "# a note" })
  vim.wait(300)
  ne.request(bufnr)
  vim.wait(500)
  assert(not ne.visible(), "an edit proposed after a comment")
end)
