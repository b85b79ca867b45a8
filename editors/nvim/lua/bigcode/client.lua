-- Starting the server and attaching buffers, on Neovim 0.7 and on 0.11+ (where
-- `vim.lsp.start_client`, dot-style client methods and `vim.loop` are deprecated).
local config = require("bigcode.config")

local modern = vim.fn.has("nvim-0.11") == 1
local uv = vim.uv or vim.loop

-- `loading`: the server's model-loading progress ("" once loaded), for `status()`.
-- `languages`: what the server's model completes (LSP language ids, "*": any), once known.
local M = { client_id = nil, loading = nil, progress_seen = false, languages = nil }

-- Filetypes whose LSP language id is another name.
local LANGUAGE_IDS = { sh = "shellscript", bash = "shellscript", cs = "csharp" }

-- Ask the server which languages its model completes (known once the model is loaded).
function M.fetch_languages()
  local c = M.get()
  if not c then
    return
  end
  pcall(M.call, c, "request", "bigcode/status", vim.empty_dict(), function(err, result)
    if not err and result and result.model ~= vim.NIL and result.model and result.languages then
      M.languages = result.languages
    end
  end)
end

-- Whether the server's model completes this buffer's language (unknown yet: yes).
function M.serves(bufnr)
  if not M.languages then
    return true
  end
  local ft = vim.bo[bufnr].filetype
  local id = LANGUAGE_IDS[ft] or ft
  return vim.tbl_contains(M.languages, "*") or vim.tbl_contains(M.languages, id)
end

-- `M.call(c, "request", ...)`: a client method, called the way this Neovim expects
-- (method-style from 0.11, plain function before).
function M.call(c, method, ...)
  if modern then
    return c[method](c, ...)
  end
  return c[method](...)
end

-- `$/progress` from the server: say that the model is loading (once, then in the
-- statusline through require("bigcode").status()), and when it is ready.
local function on_progress(err, result, ctx, cfg)
  local value = result and result.value or {}
  if value.kind == "begin" or value.kind == "report" then
    M.progress_seen = true
    local pct = value.percentage and (" " .. value.percentage .. "%") or ""
    M.loading = (value.title or value.message or "loading") .. pct
    if value.kind == "begin" then
      vim.api.nvim_echo({ { "bigcode-ls: loading the model…", "MoreMsg" } }, false, {})
    end
  elseif value.kind == "end" then
    M.progress_seen = true
    M.loading = nil
    M.fetch_languages()
    vim.api.nvim_echo({ { "bigcode-ls: " .. (value.message or "ready"), "MoreMsg" } }, false, {})
  end
  local default = vim.lsp.handlers["$/progress"]
  if default then
    default(err, result, ctx, cfg)
  end
end

local function root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or uv.cwd()
  return dir
end

function M.get()
  return M.client_id and vim.lsp.get_client_by_id(M.client_id) or nil
end

-- 0.11+: one bigcode-ls for every buffer, whatever its root directory.
function M.start_modern(cfg, bufnr)
  return vim.lsp.start(cfg, {
    bufnr = bufnr,
    reuse_client = function(c)
      return c.name == "bigcode-ls" and not c:is_stopped()
    end,
  })
end

function M.start(bufnr)
  local client = M.get()
  if not client or M.call(client, "is_stopped") then
    local opts = config.options
    M.client_id = (modern and M.start_modern or vim.lsp.start_client)({
      name = "bigcode-ls",
      cmd = opts.cmd,
      root_dir = root_dir(bufnr),
      -- an empty table would be sent as a JSON array: send an object
      init_options = { bigcode = next(opts.settings or {}) and opts.settings or vim.empty_dict() },
      settings = { bigcode = next(opts.settings or {}) and opts.settings or vim.empty_dict() },
      on_init = function(c)
        if not opts.lsp_completion then -- the ghost text shows it: no duplicate in menus
          c.server_capabilities.completionProvider = nil
          if c.resolved_capabilities then -- Neovim 0.7
            c.resolved_capabilities.completion = false
          end
        end
        vim.schedule(M.fetch_languages) -- a server that had its model already (TCP)
      end,
      handlers = {
        -- The model may take a while to load; show only failures as messages.
        ["window/showMessage"] = function(_, result)
          local text = result.message
          if text:sub(1, 11) ~= "bigcode-ls:" then -- the server names itself already
            text = "bigcode-ls: " .. text
          end
          vim.notify(text, vim.log.levels.WARN)
        end,
        ["$/progress"] = on_progress,
      },
    }, bufnr)
  end
  if M.client_id and not vim.lsp.buf_is_attached(bufnr, M.client_id) then
    vim.lsp.buf_attach_client(bufnr, M.client_id)
  end
  return M.client_id
end

function M.restart()
  local client = M.get()
  local buffers = client and vim.lsp.get_buffers_by_client_id(client.id) or {}
  if client then
    M.call(client, "stop")
  end
  M.client_id = nil
  for _, bufnr in ipairs(buffers) do
    M.start(bufnr)
  end
end

return M
