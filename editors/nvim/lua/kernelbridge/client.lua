-- The daemon as a Neovim LSP client: one `kernelbridge --stdio` per Neovim, attached to buffers
-- next to their other language servers. Completion, hover, code lenses and diagnostics are plain
-- LSP and go through Neovim's own LSP machinery; kernelbridge/* requests and notifications are
-- handled here and in output.lua.
local compat = require("kernelbridge.compat")
local config = require("kernelbridge.config")
local kernels = require("kernelbridge.kernels")
local output = require("kernelbridge.output")

local api = vim.api
local uv = vim.uv or vim.loop

local M = {}

M.name = "kernelbridge"
M.client_id = nil ---@type integer|nil
M.attached = {} ---@type table<integer, integer> bufnr -> client id, once didOpen was sent
M.pending = {} ---@type table<integer, fun(client: table)[]> bufnr -> calls waiting for the attach
M.exiting = false -- Neovim is quitting: the daemon's exit is expected
M.last_exit = nil ---@type { code: integer, signal: integer }|nil

---------------------------------------------------------------------------------------------
-- Server → client messages

local function on_input(_, params, _)
  return require("kernelbridge.input").answer(params)
end

M.handlers = {
  ["kernelbridge/output"] = function(_, params)
    if params then
      output.on_output(params)
    end
  end,
  ["kernelbridge/status"] = function(_, params)
    if params then
      kernels.on_status(params)
    end
  end,
  ["kernelbridge/cellState"] = function(_, params)
    if params then
      local b = output.buf_for_uri(params.uri)
      if b then
        kernels.bind(b, params.kernelId)
      end
      output.on_cell_state(params)
    end
  end,
  ["kernelbridge/input"] = on_input,
  -- The daemon withdraws an input request it no longer needs (protocol.md §5.3). A prompt
  -- already on screen cannot be taken back; its late answer is ignored by the daemon.
  ["$/cancelRequest"] = function() end,
}

---------------------------------------------------------------------------------------------
-- Lifecycle

function M.get()
  if not M.client_id then
    return nil
  end
  local client = vim.lsp.get_client_by_id(M.client_id)
  if client and not compat.is_stopped(client) then
    return client
  end
  return nil
end

local function flush(bufnr, client)
  local calls = M.pending[bufnr] or {}
  M.pending[bufnr] = nil
  for _, fn in ipairs(calls) do
    local ok, err = pcall(fn, client)
    if not ok then
      kernels.notify(tostring(err), vim.log.levels.ERROR)
    end
  end
end

local function on_attach(client, bufnr)
  M.client_id = client.id
  M.attached[bufnr] = client.id
  if config.options.codelens then
    compat.codelens_refresh(bufnr)
    api.nvim_create_autocmd({ "BufEnter", "InsertLeave", "TextChanged" }, {
      buffer = bufnr,
      group = api.nvim_create_augroup("kernelbridge_codelens_" .. bufnr, { clear = true }),
      callback = function()
        if M.attached[bufnr] then
          compat.codelens_refresh(bufnr)
        end
      end,
    })
  end
  if config.options.on_attach then
    config.options.on_attach(client, bufnr)
  end
  flush(bufnr, client)
end

local function on_exit(code, signal, client_id)
  vim.schedule(function()
    if client_id ~= M.client_id then
      return
    end
    M.client_id = nil
    M.attached = {}
    M.last_exit = { code = code, signal = signal }
    local waiting = M.pending
    M.pending = {}
    kernels.all_dead()
    output.fail_unfinished(nil)
    if M.exiting then
      return
    end
    local how = (signal and signal ~= 0) and ("signal " .. signal) or ("code " .. tostring(code))
    kernels.notify(
      string.format(
        "the daemon (%s) exited with %s; the kernels it started are gone. "
          .. "The next kernelbridge command starts a new daemon.",
        table.concat(config.options.cmd, " "),
        how
      ),
      vim.log.levels.ERROR
    )
    if next(waiting) then
      kernels.notify("commands waiting for the daemon were dropped", vim.log.levels.WARN)
    end
  end)
end

local function make_config()
  local o = config.options
  local caps = vim.tbl_deep_extend("force", vim.lsp.protocol.make_client_capabilities(), o.capabilities or {})
  return {
    name = M.name,
    cmd = o.cmd,
    root_dir = uv.cwd(),
    init_options = o.init_options,
    capabilities = caps,
    handlers = M.handlers,
    on_attach = on_attach,
    on_exit = on_exit,
    flags = { debounce_text_changes = 50 },
  }
end

--- Starts the daemon if needed and attaches it to the buffer.
---@return boolean ok
local function attach(bufnr)
  local cmd = config.options.cmd
  if vim.fn.executable(cmd[1]) ~= 1 then
    kernels.notify(
      string.format("%q is not executable: install kernelbridge or set `cmd` in setup() (:checkhealth kernelbridge)", cmd[1]),
      vim.log.levels.ERROR
    )
    return false
  end
  if not M.get() then
    M.exiting = false
  end
  local ok, id = pcall(function()
    if compat.has_08 then
      return vim.lsp.start(make_config(), {
        bufnr = bufnr,
        reuse_client = function(client, conf)
          return client.name == conf.name
        end,
      })
    end
    local client = M.get()
    local cid = client and client.id or vim.lsp.start_client(make_config())
    if cid then
      vim.lsp.buf_attach_client(bufnr, cid)
    end
    return cid
  end)
  if not ok or not id then
    kernels.notify("cannot start the daemon: " .. tostring(id), vim.log.levels.ERROR)
    return false
  end
  M.client_id = id
  return true
end

--- Makes sure the daemon runs and knows the buffer (didOpen sent), then calls fn(client).
---@param bufnr integer
---@param fn? fun(client: table)
function M.ensure(bufnr, fn)
  if bufnr == 0 then
    bufnr = api.nvim_get_current_buf()
  end
  local client = M.get()
  if client and M.attached[bufnr] == client.id and vim.lsp.buf_is_attached(bufnr, client.id) then
    if fn then
      fn(client)
    end
    return
  end
  local waiting = M.pending[bufnr]
  M.pending[bufnr] = waiting or {}
  if fn then
    table.insert(M.pending[bufnr], fn)
  end
  if waiting and client then
    return -- the attach is under way
  end
  if not attach(bufnr) then
    M.pending[bufnr] = nil
  end
end

local function describe(err)
  if type(err) == "table" then
    return err.message or vim.inspect(err)
  end
  return tostring(err)
end
M.describe = describe

--- Sends a request about a buffer; cb(err, result) runs with the response.
---@param bufnr integer
---@param method string
---@param params table|nil
---@param cb? fun(err: table|nil, result: any)
function M.request(bufnr, method, params, cb)
  M.ensure(bufnr, function(client)
    local ok = compat.request(client, method, params, function(err, result)
      if cb then
        cb(err, result)
      elseif err then
        kernels.notify(method .. ": " .. describe(err), vim.log.levels.ERROR)
      end
    end, bufnr)
    if not ok and cb then
      cb({ code = -32603, message = "the daemon is not running" }, nil)
    end
  end)
end

--- Stops the daemon (its kernels are shut down by it).
function M.stop()
  local client = M.get()
  if client then
    M.exiting = true
    compat.stop(client)
  end
end

function M.setup_autocmds()
  local group = api.nvim_create_augroup("kernelbridge", { clear = true })
  if #config.options.filetypes > 0 then
    api.nvim_create_autocmd("FileType", {
      group = group,
      pattern = config.options.filetypes,
      callback = function(args)
        if vim.bo[args.buf].buftype == "" then
          M.ensure(args.buf)
        end
      end,
    })
  end
  api.nvim_create_autocmd("VimLeavePre", {
    group = group,
    callback = function()
      M.exiting = true
    end,
  })
  -- Images drawn with the kitty graphics protocol follow the text they are under.
  api.nvim_create_autocmd({ "WinScrolled", "VimResized", "TabEnter", "BufWinEnter", "WinClosed" }, {
    group = group,
    callback = function()
      output.schedule_images()
    end,
  })
  api.nvim_create_autocmd("BufWipeout", {
    group = group,
    callback = function(args)
      output.forget_buffer(args.buf)
      kernels.buffers[args.buf] = nil
      M.attached[args.buf] = nil
      M.pending[args.buf] = nil
    end,
  })
  api.nvim_create_autocmd("ColorScheme", {
    group = group,
    callback = function()
      require("kernelbridge.ansi").setup_highlights()
    end,
  })
end

return M
