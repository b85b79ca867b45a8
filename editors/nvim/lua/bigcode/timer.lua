-- One-shot timers kept in a table's `timer` field: what suggestions, rests and next edits
-- wait with (a new wait replaces the old one).
local uv = vim.uv or vim.loop

local M = {}

function M.stop(slot)
  if slot.timer then
    slot.timer:stop()
    slot.timer:close()
    slot.timer = nil
  end
end

-- Run `fn` on the main loop after `ms`, replacing the wait in `slot`.
function M.after(slot, ms, fn)
  M.stop(slot)
  slot.timer = uv.new_timer()
  slot.timer:start(ms, 0, vim.schedule_wrap(function()
    M.stop(slot)
    fn()
  end))
end

return M
