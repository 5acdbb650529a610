-- A real Neovim in a terminal (tmux), driven by keystrokes as a person would use the plugin
-- with the README's suggested keys; its screen is saved for people to look at.
-- This driver is itself a headless Neovim: it types with `tmux send-keys`, reads the screen
-- with `tmux capture-pane`, and asks the Neovim under test for its state over its RPC socket.
local H = dofile(os.getenv("KB_NVIM_ROOT") .. "/tests/harness.lua")
local uv = vim.uv or vim.loop

local socket = os.getenv("KB_TMUX_SOCKET")
local ui_nvim = os.getenv("KB_NVIM_UI")
local screen_file = os.getenv("KB_SCREEN")
local rpc_path = H.tmp .. "/nvim.sock"
local chan

local function tmux(args)
  local cmd = { "tmux", "-L", socket }
  vim.list_extend(cmd, args)
  local out = vim.fn.system(cmd)
  if vim.v.shell_error ~= 0 then
    error("tmux " .. table.concat(args, " ") .. " failed: " .. out)
  end
  return out
end

local function screen()
  return tmux({ "capture-pane", "-p", "-t", "kb" })
end

local function keys(...)
  tmux(vim.list_extend({ "send-keys", "-t", "kb" }, { ... }))
end

-- Evaluates Lua in the Neovim under test.
local function remote(code)
  return vim.rpcrequest(chan, "nvim_exec_lua", code, {})
end

local function wait_screen(needle, ms)
  io.stderr:write("waiting for the screen to show " .. needle .. "\n")
  H.wait(ms or 20000, function()
    return screen():find(needle, 1, true)
  end, "the screen to show " .. vim.inspect(needle))
end

local function wait_remote(code, what, ms)
  io.stderr:write("waiting for " .. what .. "\n")
  H.wait(ms or 20000, function()
    return remote(code)
  end, what)
end

local demo = {
  "# %% Setup",
  "import sys, time",
  "print('Python', sys.version.split()[0])",
  "",
  "# %% Progress bar (\\r)",
  "for i in range(1, 11):",
  "    sys.stdout.write(f\"\\rprogress {'#' * i}{'.' * (10 - i)} {i * 10}%\")",
  "    sys.stdout.flush(); time.sleep(0.05)",
  "print()",
  "",
  "# %% A plot",
  "import matplotlib",
  "matplotlib.use('module://matplotlib_inline.backend_inline')",
  "import matplotlib.pyplot as plt",
  "plt.plot([1, 4, 2, 3]); plt.show()",
  "",
  "# %% Ask",
  "name = input('Your name: ')",
  "print(f'Hello, {name}!')",
  "",
  "# %% Oops",
  "def ratio(a, b):",
  "    return a / b",
  "ratio(1, 0)",
}

-- The user's config: the README's snippet, with the daemon of this checkout.
local init = {
  "vim.opt.rtp:prepend(" .. vim.inspect(H.root) .. ")",
  "vim.g.mapleader = ' '",
  "vim.o.laststatus = 2",
  "vim.o.swapfile = false",
  "vim.o.shortmess = vim.o.shortmess .. 'I'",
  [[vim.o.statusline = "%f %m%=%{luaeval('require(\"kernelbridge\").statusline()')} "]],
  "require('kernelbridge').setup({",
  "  cmd = { os.getenv('KB_DAEMON'), '--stdio' },",
  "  output = { max_lines = 12 },",
  "})",
  "local kb = require('kernelbridge')",
  "local map = vim.keymap.set",
  "map('n', '<leader>jc', kb.run_cell, { desc = 'Run cell' })",
  "map('n', '<leader>jn', function() kb.run_cell({ advance = true }) end, { desc = 'Run cell, next' })",
  "map('n', '<leader>jl', kb.run_line, { desc = 'Run line' })",
  "map('x', '<leader>j', ':KernelbridgeRunRange<cr>', { desc = 'Run selection' })",
  "map('n', '<leader>ja', kb.run_all, { desc = 'Run all' })",
  "map('n', '<leader>ji', kb.interrupt, { desc = 'Interrupt' })",
  "map('n', '<leader>jo', kb.open_output, { desc = 'Output window' })",
  "vim.cmd('filetype on')",
}

local function session()
  vim.fn.writefile(demo, H.tmp .. "/demo.py")
  vim.fn.writefile(init, H.tmp .. "/init.lua")
  -- Not this Neovim's VIMRUNTIME (the tmux server inherits the driver's environment).
  local cmd = string.format("cd %s && exec env -u VIMRUNTIME -u VIM -u NVIM -u MYVIMRC %s -u init.lua -i NONE -n --listen %s demo.py",
    vim.fn.shellescape(H.tmp), vim.fn.shellescape(ui_nvim), vim.fn.shellescape(rpc_path))
  tmux({ "-f", "/dev/null", "new-session", "-d", "-s", "kb", "-x", "100", "-y", "50", cmd })
  H.wait(10000, function()
    return uv.fs_stat(rpc_path) ~= nil
  end, "the Neovim under test to listen")
  wait_screen("demo.py")
  chan = vim.fn.sockconnect("pipe", rpc_path, { rpc = true })
  wait_remote("return vim.bo.filetype == 'python' and require('kernelbridge').get_client() ~= nil",
    "the python buffer with the daemon attached")

  keys(":KernelbridgeStart python3", "Enter")
  wait_screen("python3 idle", 60000)

  -- Run the first three cells with <leader>jn (run, move to the next cell).
  keys("g", "g")
  for _ = 1, 3 do
    keys(" ", "j", "n")
  end
  wait_screen("[image/png]", 60000)
  wait_screen("progress ########## 100%")

  -- The Ask cell: the prompt appears on the command line; type the answer.
  wait_remote("return vim.api.nvim_win_get_cursor(0)[1] == 18", "the cursor on the Ask cell")
  keys(" ", "j", "n")
  -- The prompt is active when Neovim is in command-line mode (nvim_get_mode answers even
  -- while input() waits) and shows on the last line ("Your name:" is also in the code).
  H.wait(20000, function()
    local lines = vim.split(vim.trim(screen()), "\n", { plain = true })
    return vim.rpcrequest(chan, "nvim_get_mode").mode == "c" and lines[#lines]:find("^Your name:")
  end, "the input() prompt")
  keys("Ada", "Enter")
  wait_screen("Hello, Ada!")

  -- The failing cell: a traceback under it, a diagnostic on the line that raised.
  wait_remote("return vim.api.nvim_win_get_cursor(0)[1] == 22", "the cursor on the Oops cell")
  keys(" ", "j", "n")
  wait_screen("ZeroDivisionError")
  wait_remote("return #vim.diagnostic.get(0) > 0", "a diagnostic")
  keys("g", "g")
  wait_screen("[1] done")
  wait_screen("python3 idle")

  local text = screen()
  vim.fn.mkdir(vim.fn.fnamemodify(screen_file, ":h"), "p")
  vim.fn.writefile(vim.split(text, "\n", { plain = true }), screen_file)
  H.out("    screen saved to " .. screen_file)
  for _, needle in ipairs({ "Python 3", "[2] done", "[image/png]", "[4] done", "[5] failed", "Hello, Ada!" }) do
    H.ok(text:find(needle, 1, true), needle .. " on the screen")
  end
  pcall(vim.rpcnotify, chan, "nvim_command", "qa!")
end

H.test("Neovim in tmux: start a kernel, run cells by keys, answer input(), see the output", function()
  local ok, err = xpcall(session, debug.traceback)
  if not ok then
    local shown = pcall(screen) and screen() or "(no screen)"
    error(err .. "\nthe screen then:\n" .. shown, 0)
  end
end)

H.run()
