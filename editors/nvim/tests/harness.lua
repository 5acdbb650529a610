-- A small test runner for headless Neovim (0.7 and later): register tests with H.test, run
-- them with H.run. Every wait is a vim.wait on a condition with its own timeout.
local H = {}

local api = vim.api
local uv = vim.uv or vim.loop

H.tests = {}
H.messages = {} -- everything passed to vim.notify
H.root = os.getenv("KB_NVIM_ROOT") -- editors/nvim
H.tmp = os.getenv("KB_TMP")
H.daemon = os.getenv("KB_DAEMON") -- path of the kernelbridge executable

local function out(s)
  io.stdout:write(s .. "\n")
  io.stdout:flush()
end
H.out = out

function H.test(name, fn)
  H.tests[#H.tests + 1] = { name = name, fn = fn }
end

--- Waits for cond() to be truthy, failing the test with `what` after `ms` milliseconds.
function H.wait(ms, cond, what)
  local last_err
  local ok = vim.wait(ms, function()
    local okc, v = pcall(cond)
    if not okc then
      last_err = v
      return false
    end
    return v
  end, 10)
  if not ok then
    error(string.format("timed out after %d ms waiting for %s%s", ms, what or "a condition",
      last_err and (" (last error: " .. tostring(last_err) .. ")") or ""), 2)
  end
end

function H.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(string.format("%s: expected %s, got %s", what or "value", vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

function H.ok(v, what)
  if not v then
    error("expected true: " .. (what or "?"), 2)
  end
  return v
end

--- True if some string of the list contains `needle` (plain text).
function H.contains(list, needle)
  for _, s in ipairs(list) do
    if s:find(needle, 1, true) then
      return true
    end
  end
  return false
end

function H.captured(needle)
  return H.contains(H.messages, needle)
end

--- Records vim.notify messages (and echoes them to stderr for the log).
function H.capture_notify()
  vim.notify = function(msg, level)
    H.messages[#H.messages + 1] = msg
    io.stderr:write(string.format("    [notify %s] %s\n", tostring(level), msg))
  end
end

--- The daemon command of the tests; `pidfile` makes it write its pid there first.
function H.cmd(pidfile)
  if pidfile then
    return { "sh", "-c", 'echo $$ > "$0"; exec "$1" --stdio', pidfile, H.daemon }
  end
  return { H.daemon, "--stdio" }
end

--- Opens a file with the given lines as a python buffer and waits until the daemon has it.
function H.open(name, lines)
  local path = H.tmp .. "/" .. name
  vim.fn.writefile(lines, path)
  vim.cmd("edit! " .. vim.fn.fnameescape(path))
  vim.bo.filetype = "python" -- -u NONE: no filetype detection
  local bufnr = api.nvim_get_current_buf()
  local client = require("kernelbridge.client")
  H.wait(20000, function()
    return client.attached[bufnr] ~= nil
  end, "the daemon attached to " .. name)
  return bufnr
end

--- The virtual lines drawn in a buffer, as plain strings, in buffer order.
---@return string[] lines, table[] marks {row, lines(chunks)}
function H.virt_lines(bufnr)
  local ns = require("kernelbridge.output").ns
  local marks = api.nvim_buf_get_extmarks(bufnr or 0, ns, 0, -1, { details = true })
  local lines, found = {}, {}
  for _, m in ipairs(marks) do
    local vl = m[4].virt_lines
    if vl then
      found[#found + 1] = { row = m[2], lines = vl }
      for _, chunks in ipairs(vl) do
        local parts = {}
        for _, c in ipairs(chunks) do
          parts[#parts + 1] = c[1]
        end
        lines[#lines + 1] = table.concat(parts)
      end
    end
  end
  return lines, found
end

--- Waits until the virtual lines of a buffer contain `needle`.
function H.wait_virt(needle, ms, bufnr)
  H.wait(ms or 15000, function()
    return H.contains(H.virt_lines(bufnr), needle)
  end, "virtual line containing " .. vim.inspect(needle))
end

--- The newest execution (output.lua's record) whose drawn code covers 0-based `row`.
function H.exec_at(row, bufnr)
  return require("kernelbridge.output").exec_at(bufnr or api.nvim_get_current_buf(), row)
end

--- Waits for the execution at a row to reach a final state; returns it.
function H.wait_exec(row, states, ms)
  states = states or { done = true }
  local exec
  H.wait(ms or 20000, function()
    exec = H.exec_at(row)
    return exec and states[exec.state]
  end, "the execution at line " .. (row + 1) .. " to end in " .. table.concat(vim.tbl_keys(states), "/"))
  return exec
end

--- Calls fn, which starts a run covering 0-based `row`, and waits for that new execution (not
--- one drawn there before) to end in one of `states` (default: done). Returns it.
function H.run_at(row, fn, states, ms)
  states = states or { done = true }
  local old = H.exec_at(row)
  local old_id = old and old.id
  fn()
  local exec
  H.wait(ms or 20000, function()
    exec = H.exec_at(row)
    return exec and exec.id ~= old_id and states[exec.state]
  end, "a new execution at line " .. (row + 1) .. " ending in " .. table.concat(vim.tbl_keys(states), "/"))
  return exec
end

--- Runs the cell at 1-based `line` and waits for it (see H.run_at).
function H.run_cell(line, states, ms)
  H.cursor(line)
  return H.run_at(line - 1, function()
    require("kernelbridge").run_cell()
  end, states, ms)
end

--- Moves the cursor (1-based line).
function H.cursor(line)
  api.nvim_win_set_cursor(0, { line, 0 })
end

--- Starts python3 for the current buffer and waits until it is idle.
function H.start_kernel()
  local kb = require("kernelbridge")
  kb.start("python3")
  H.wait(60000, function()
    return kb.status() == "idle"
  end, "the kernel to be idle")
end

function H.run()
  local passed, failed = 0, 0
  local only = os.getenv("KB_ONLY")
  for _, t in ipairs(H.tests) do
    if not only or t.name:find(only, 1, true) then
      local t0 = uv.hrtime()
      local ok, err = xpcall(t.fn, debug.traceback)
      local ms = (uv.hrtime() - t0) / 1e6
      if ok then
        passed = passed + 1
        out(string.format("  ok   %s (%.0f ms)", t.name, ms))
      else
        failed = failed + 1
        out(string.format("  FAIL %s (%.0f ms)\n%s", t.name, ms, tostring(err):gsub("\n", "\n       ")))
      end
    end
  end
  out(string.format("RESULT %d %d", passed, failed))
  if failed > 0 then
    vim.cmd("cquit 1")
  else
    vim.cmd("qall!")
  end
end

return H
