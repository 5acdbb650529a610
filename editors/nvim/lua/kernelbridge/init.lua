-- kernelbridge.nvim: a thin client of the kernelbridge daemon (Jupyter kernels over LSP).
--
-- The daemon owns kernels, cells (# %% parsing), output shaping and diagnostics; this plugin
-- starts it as an LSP client, sends its requests for the buffer at hand and draws what it
-- pushes back. See protocol.md in the kernelbridge repository for the wire contract.
local ansi = require("kernelbridge.ansi")
local client = require("kernelbridge.client")
local config = require("kernelbridge.config")
local kernels = require("kernelbridge.kernels")
local output = require("kernelbridge.output")

local api = vim.api
local levels = vim.log.levels

local M = {}

local function cur()
  return api.nvim_get_current_buf()
end

local function buffer(bufnr)
  if type(bufnr) ~= "number" or bufnr == 0 then
    return cur()
  end
  return bufnr
end

local function uri(bufnr)
  return vim.uri_from_bufnr(bufnr)
end

local function cursor_line()
  return api.nvim_win_get_cursor(0)[1] - 1
end

local function error_handler(what)
  return function(err)
    if err.code == -32800 then
      return -- cancelled: the daemon is shutting down
    end
    kernels.notify(what .. ": " .. client.describe(err), err.code == 1002 and levels.WARN or levels.ERROR)
  end
end

-- The response of a cell run (executeCell/executeRange/runAbove/runAll): output was drawn from
-- the notifications that preceded it; only the binding and "nothing ran" are left to handle.
local function on_run(bufnr, what)
  local fail = error_handler(what)
  return function(err, result)
    if err then
      return fail(err)
    end
    if type(result) ~= "table" then
      return
    end
    kernels.bind(bufnr, result.kernelId)
    if result.status == "skipped" and (result.executionId == nil or result.executionId == vim.NIL) then
      kernels.info("nothing to run here (a blank, markdown or raw cell)")
    elseif result.cells and #result.cells == 0 then
      kernels.info("no code cell to run")
    end
  end
end

--- Calls fn(kernelId) with the buffer's kernel (asking the daemon when the plugin does not
--- know it yet).
local function with_kernel(bufnr, fn)
  local id = kernels.for_buffer(bufnr)
  if id then
    return fn(id)
  end
  client.request(bufnr, "kernelbridge/kernels", vim.empty_dict(), function(err, list)
    if err then
      return error_handler("kernels")(err)
    end
    list = list or {}
    local u = uri(bufnr)
    for _, k in ipairs(list) do
      kernels.update(k)
      if vim.tbl_contains(k.documents or {}, u) then
        kernels.bind(bufnr, k.kernelId)
        return fn(k.kernelId)
      end
    end
    if #list == 1 then
      return fn(list[1].kernelId)
    end
    kernels.notify(
      #list == 0 and "no kernel is running (:KernelbridgeStart)"
        or "this buffer has no kernel; run a cell or :KernelbridgeStart",
      levels.WARN
    )
  end)
end

---------------------------------------------------------------------------------------------
-- Kernels

local function start_spec(bufnr, name)
  local params = { kernelspec = name, uri = uri(bufnr) }
  local dir = vim.fn.fnamemodify(api.nvim_buf_get_name(bufnr), ":p:h")
  if api.nvim_buf_get_name(bufnr) ~= "" and vim.fn.isdirectory(dir) == 1 then
    params.cwd = dir
  end
  kernels.info("starting kernel " .. name .. "…")
  client.request(bufnr, "kernelbridge/start", params, function(err, k)
    if err then
      return error_handler("cannot start kernel " .. name)(err)
    end
    kernels.update(k)
    kernels.bind(bufnr, k.kernelId)
    kernels.info("kernel " .. kernels.label(k.kernelId) .. " is ready")
  end)
end

--- Starts a kernel for the current buffer. Without a kernelspec name, asks with vim.ui.select
--- among the installed ones (those of the buffer's filetype first).
---@param kernelspec? string
function M.start(kernelspec)
  local bufnr = cur()
  if kernelspec and kernelspec ~= "" then
    return start_spec(bufnr, kernelspec)
  end
  client.request(bufnr, "kernelbridge/kernelspecs", vim.empty_dict(), function(err, specs)
    if err then
      return error_handler("kernelspecs")(err)
    end
    specs = specs or {}
    if #specs == 0 then
      return kernels.notify("no Jupyter kernelspec is installed (e.g. pip install ipykernel)", levels.ERROR)
    end
    local ft = vim.bo[bufnr].filetype
    table.sort(specs, function(a, b)
      local ma, mb = (a.language or ""):lower() == ft, (b.language or ""):lower() == ft
      if ma ~= mb then
        return ma
      end
      return a.name < b.name
    end)
    vim.ui.select(specs, {
      prompt = "Start kernel",
      kind = "kernelbridge.kernelspec",
      format_item = function(s)
        return string.format("%s (%s)", s.displayName, s.name)
      end,
    }, function(choice)
      if choice then
        start_spec(bufnr, choice.name)
      end
    end)
  end)
end

--- Connects the current buffer to a kernel started elsewhere (`jupyter kernel`, a notebook).
---@param connection_file? string asked with vim.ui.input when absent
function M.connect(connection_file)
  local bufnr = cur()
  local function go(path)
    if not path or path == "" then
      return
    end
    client.request(bufnr, "kernelbridge/connect", { connectionFile = path, uri = uri(bufnr) }, function(err, k)
      if err then
        return error_handler("cannot connect to " .. path)(err)
      end
      kernels.update(k)
      kernels.bind(bufnr, k.kernelId)
      kernels.info("connected to kernel " .. kernels.label(k.kernelId))
    end)
  end
  if connection_file and connection_file ~= "" then
    return go(connection_file)
  end
  vim.ui.input({ prompt = "Connection file: ", completion = "file" }, go)
end

function M.interrupt()
  local bufnr = cur()
  with_kernel(bufnr, function(id)
    client.request(bufnr, "kernelbridge/interrupt", { kernelId = id }, function(err)
      if err then
        return error_handler("interrupt")(err)
      end
    end)
  end)
end

function M.restart()
  local bufnr = cur()
  with_kernel(bufnr, function(id)
    kernels.info("restarting kernel " .. kernels.label(id) .. "…")
    client.request(bufnr, "kernelbridge/restart", { kernelId = id }, function(err, k)
      if err then
        return error_handler("restart")(err)
      end
      kernels.update(k)
      kernels.info("kernel " .. kernels.label(id) .. " restarted")
    end)
  end)
end

--- Shuts the buffer's kernel down (a connected kernel is only disconnected from).
function M.shutdown()
  local bufnr = cur()
  with_kernel(bufnr, function(id)
    local k = kernels.kernels[id]
    if k then
      k.expect_dead = true
    end
    client.request(bufnr, "kernelbridge/shutdown", { kernelId = id }, function(err)
      if err then
        if k then
          k.expect_dead = nil
        end
        return error_handler("shutdown")(err)
      end
      output.fail_unfinished(id)
      kernels.forget(id)
    end)
  end)
end

---------------------------------------------------------------------------------------------
-- Running code (the daemon cuts cells; the plugin only names lines)

--- Runs the cell (# %% ...) at the cursor.
---@param opts? { advance?: boolean } advance: move the cursor to the next code cell
function M.run_cell(opts)
  local bufnr, line = cur(), cursor_line()
  client.request(bufnr, "kernelbridge/executeCell", {
    uri = uri(bufnr),
    position = { line = line, character = 0 },
  }, on_run(bufnr, "run cell"))
  if opts and opts.advance then
    M._advance(bufnr, line)
  end
end

-- Moves the cursor to the code cell after the one at `line` (the daemon cuts the cells).
-- Synchronous when the daemon is up (a cheap request that needs no kernel), so that keys typed
-- ahead (<leader>jn<leader>jn...) run one cell after the other.
function M._advance(bufnr, line)
  local function move(cells)
    if type(cells) ~= "table" then
      return
    end
    for i, cell in ipairs(cells) do
      if line >= cell.range.start.line and line < cell.range["end"].line then
        local target = cell.range["end"].line
        for j = i + 1, #cells do
          if cells[j].kind == "code" then
            target = cells[j].codeStartLine
            break
          end
        end
        local win = vim.fn.bufwinid(bufnr)
        if win ~= -1 then
          local last = api.nvim_buf_line_count(bufnr)
          api.nvim_win_set_cursor(win, { math.min(target + 1, last), 0 })
        end
        return
      end
    end
  end
  local params = { uri = uri(bufnr) }
  local c = client.get()
  if c and client.attached[bufnr] == c.id then
    local res = require("kernelbridge.compat").request_sync(c, "kernelbridge/cells", params, 2000, bufnr)
    if res and res.result then
      return move(res.result)
    end
  end
  client.request(bufnr, "kernelbridge/cells", params, function(err, cells)
    if not err then
      move(cells)
    end
  end)
end

--- Runs lines first..last (1-based, inclusive) of the current buffer.
function M.run_range(first, last)
  local bufnr = cur()
  client.request(bufnr, "kernelbridge/executeRange", {
    uri = uri(bufnr),
    -- Ends at character 0 of the line after `last`: whole lines, as a linewise selection.
    range = { start = { line = first - 1, character = 0 }, ["end"] = { line = last, character = 0 } },
  }, on_run(bufnr, "run lines"))
end

--- Runs the line at the cursor.
function M.run_line()
  local line = cursor_line() + 1
  M.run_range(line, line)
end

--- Runs every code cell of the buffer, in order (stops at the first failure).
function M.run_all()
  local bufnr = cur()
  client.request(bufnr, "kernelbridge/runAll", { uri = uri(bufnr) }, on_run(bufnr, "run all"))
end

--- Runs every code cell above the cell at the cursor.
function M.run_above()
  local bufnr = cur()
  client.request(bufnr, "kernelbridge/runAbove", {
    uri = uri(bufnr),
    position = { line = cursor_line(), character = 0 },
  }, on_run(bufnr, "run above"))
end

---------------------------------------------------------------------------------------------
-- Output and status

--- Opens the output window: the output of the cell at the cursor, or the newest output.
function M.open_output()
  return output.open_window()
end

--- Clears the output drawn in the current buffer (only lines first..last, 1-based, if given).
function M.clear(first, last)
  if first then
    output.clear(cur(), first - 1, last - 1)
  else
    output.clear(cur())
  end
end

--- State of the buffer's kernel for a statusline: "starting", "idle", "busy", "unresponsive",
--- "restarting", "dead", or "" when the buffer has no kernel.
---@param bufnr? integer
---@return kernelbridge.KernelState|""
function M.status(bufnr)
  local id = kernels.for_buffer(buffer(bufnr))
  local k = id and kernels.kernels[id]
  return (k and k.state) or ""
end

--- The buffer's kernel (protocol.md §3.1 fields the plugin has seen), or nil.
---@param bufnr? integer
function M.kernel(bufnr)
  local id = kernels.for_buffer(buffer(bufnr))
  return id and kernels.kernels[id] or nil
end

--- "<kernel name> <state>" for a statusline, or "".
function M.statusline(bufnr)
  local k = M.kernel(bufnr)
  if not k or not k.state then
    return ""
  end
  local name = (k.kernelspec and k.kernelspec ~= "") and k.kernelspec or "kernel"
  return name .. " " .. k.state
end

--- The LSP client of the daemon, or nil when it is not running.
function M.get_client()
  return client.get()
end

--- Stops the daemon (it shuts down the kernels it started).
function M.stop()
  client.stop()
end

---------------------------------------------------------------------------------------------
-- Setup

local function complete_kernelspecs(arglead)
  local c = client.get()
  if not c then
    return {}
  end
  local res = require("kernelbridge.compat").request_sync(c, "kernelbridge/kernelspecs", vim.empty_dict(), 2000, cur())
  local names = {}
  for _, s in ipairs(res and res.result or {}) do
    if s.name:sub(1, #arglead) == arglead then
      names[#names + 1] = s.name
    end
  end
  return names
end

local commands = {
  KernelbridgeStart = {
    function(a)
      M.start(a.args)
    end,
    { nargs = "?", complete = complete_kernelspecs, desc = "Start a kernel for this buffer" },
  },
  KernelbridgeConnect = {
    function(a)
      M.connect(a.args)
    end,
    { nargs = "?", complete = "file", desc = "Connect this buffer to a running kernel's connection file" },
  },
  KernelbridgeRunCell = {
    function(a)
      M.run_cell({ advance = a.bang })
    end,
    { bang = true, desc = "Run the cell at the cursor (! moves to the next cell)" },
  },
  KernelbridgeRunLine = { M.run_line, { desc = "Run the line at the cursor" } },
  KernelbridgeRunRange = {
    function(a)
      M.run_range(a.line1, a.line2)
    end,
    { range = true, desc = "Run the lines of the range (visual selection)" },
  },
  KernelbridgeRunAll = { M.run_all, { desc = "Run every cell of the buffer" } },
  KernelbridgeRunAbove = { M.run_above, { desc = "Run the cells above the cursor's cell" } },
  KernelbridgeInterrupt = { M.interrupt, { desc = "Interrupt the buffer's kernel" } },
  KernelbridgeRestart = { M.restart, { desc = "Restart the buffer's kernel" } },
  KernelbridgeShutdown = { M.shutdown, { desc = "Shut the buffer's kernel down" } },
  KernelbridgeOutput = { M.open_output, { desc = "Open the output window" } },
  KernelbridgeClear = {
    function(a)
      if a.range > 0 then
        M.clear(a.line1, a.line2)
      else
        M.clear()
      end
    end,
    { range = true, desc = "Clear the output drawn in this buffer" },
  },
}

---@param opts? kernelbridge.Options
function M.setup(opts)
  config.set(opts)
  ansi.setup_highlights()
  for name, def in pairs(commands) do
    local fn = def[1]
    api.nvim_create_user_command(name, function(a)
      fn(a)
    end, def[2])
  end
  client.setup_autocmds()
  local fts = {}
  for _, ft in ipairs(config.options.filetypes) do
    fts[ft] = true
  end
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(b) and fts[vim.bo[b].filetype] and vim.bo[b].buftype == "" then
      client.ensure(b)
    end
  end
  M.did_setup = true
end

return M
