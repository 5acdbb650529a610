-- Running code and drawing its output, against a real daemon and ipykernel.
local H = dofile(os.getenv("KB_NVIM_ROOT") .. "/tests/harness.lua")
local api = vim.api

H.capture_notify()
local kb = require("kernelbridge")
kb.setup({ cmd = H.cmd(), output = { max_lines = 8 } })

local buf
local doc = {
  "# %% Hello", --  1
  "print('hello from the kernel')", --  2
  "x = 41", --  3
  "", --  4
  "# %% Progress", --  5
  "import sys, time", --  6
  "for i in range(3):", --  7
  "    sys.stdout.write(f'\\r{i}/2'); sys.stdout.flush(); time.sleep(0.4)", --  8
  "print(' ok')", --  9
  "# %% Boom", -- 10
  "def f():", -- 11
  "    return 1 / 0", -- 12
  "f()", -- 13
  "# %% Many lines", -- 14
  "for i in range(20): print('line', i)", -- 15
  "# %% [markdown]", -- 16
  "# Some notes", -- 17
  "# %% Result", -- 18
  "x + 1", -- 19
}

H.test("setup attaches the daemon to a python buffer", function()
  buf = H.open("demo.py", doc)
  local client = kb.get_client()
  H.ok(client and client.name == "kernelbridge", "client named kernelbridge")
  H.ok(vim.lsp.buf_is_attached(buf, client.id), "buffer attached")
  H.eq("", kb.status(), "status before any kernel")
end)

H.test(":KernelbridgeStart offers kernelspecs with vim.ui.select and starts one", function()
  local offered
  local orig = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    offered = items
    for _, s in ipairs(items) do
      if s.name == "python3" then
        H.ok(opts.format_item(s):find("python3", 1, true), "format_item shows the name")
        return on_choice(s)
      end
    end
    on_choice(nil)
  end
  vim.cmd("KernelbridgeStart")
  H.wait(60000, function()
    return kb.status() == "idle"
  end, "the kernel to be idle")
  vim.ui.select = orig
  H.ok(offered and #offered >= 1, "kernelspecs offered")
  H.eq("python3", kb.kernel().kernelspec, "kernelspec of the buffer's kernel")
  H.ok(H.captured("is ready"), "a ready message")
  H.ok(kb.statusline():find("python3 idle", 1, true), "statusline text")
end)

H.test("run cell: printed text drawn as virtual lines under the cell", function()
  H.cursor(2)
  local exec = H.run_at(1, function()
    vim.cmd("KernelbridgeRunCell")
  end)
  H.eq(1, exec.count, "execution count")
  local lines, marks = H.virt_lines(buf)
  H.ok(H.contains(lines, "hello from the kernel"), "output line")
  H.ok(H.contains(lines, "[1] done"), "header with count and state")
  -- Anchored at the cell's last line of code (0-based 2), from the daemon's codeRange: not
  -- after the blank line that ends the cell.
  H.eq(2, marks[1].row, "row of the virtual lines")
  H.eq("idle", kb.status())
end)

H.test("stream text streams while the cell runs and applies \\r", function()
  H.cursor(6)
  H.eq(nil, H.exec_at(5), "nothing drawn there yet")
  kb.run_cell()
  -- While running: one line showing a frame of the progress counter.
  H.wait(10000, function()
    local exec = H.exec_at(5)
    if not (exec and exec.state == "running") then
      return false
    end
    for _, l in ipairs(H.virt_lines(buf)) do
      if l:match("│ [01]/2$") then
        return true
      end
    end
  end, "a progress frame drawn while running")
  H.eq("busy", kb.status(), "status while running")
  H.wait_exec(5)
  local lines = H.virt_lines(buf)
  H.ok(H.contains(lines, "│ 2/2 ok"), "final frame: " .. vim.inspect(lines))
  H.ok(not H.contains(lines, "0/2"), "earlier frames overwritten")
end)

H.test("errors: readable traceback, ANSI colours as highlight groups, a diagnostic", function()
  local exec = H.run_cell(11, { failed = true })
  H.eq("failed", exec.state)
  local lines, marks = H.virt_lines(buf)
  H.ok(H.contains(lines, "ZeroDivisionError"), "exception name")
  for _, l in ipairs(lines) do
    H.ok(not l:find("\27", 1, true), "no escape characters in " .. vim.inspect(l))
  end
  local groups = {}
  for _, m in ipairs(marks) do
    for _, vl in ipairs(m.lines) do
      for _, chunk in ipairs(vl) do
        groups[chunk[2]] = true
      end
    end
  end
  H.ok(groups.KernelbridgeAnsiRed or groups.KernelbridgeAnsiBrightRed, "a red ANSI group: " .. vim.inspect(vim.tbl_keys(groups)))
  H.ok(groups.KernelbridgeFailed, "failed header")
  H.wait(5000, function()
    return #vim.diagnostic.get(buf) > 0
  end, "a diagnostic from the daemon")
  local d = vim.diagnostic.get(buf)[1]
  H.eq(11, d.lnum, "diagnostic on the line that raised (return 1 / 0)")
  H.ok(d.message:find("ZeroDivisionError", 1, true), "diagnostic message")
end)

H.test("long output: the last lines under the cell, all of it in the output window", function()
  H.run_cell(15)
  local lines = H.virt_lines(buf)
  H.ok(H.contains(lines, "line 19"), "last line drawn")
  H.ok(not H.contains(lines, "line 5"), "early lines not drawn under the cell")
  H.ok(H.contains(lines, "12 lines above (:KernelbridgeOutput)"), "note about the hidden lines")
  local src_win = api.nvim_get_current_win()
  vim.cmd("KernelbridgeOutput")
  local out_buf = api.nvim_get_current_buf()
  H.ok(out_buf ~= buf, "output window focused")
  local text = api.nvim_buf_get_lines(out_buf, 0, -1, false)
  H.ok(H.contains(text, "line 0"), "first line in the window")
  H.ok(H.contains(text, "line 19"), "last line in the window")
  H.eq("kernelbridge://output", vim.fn.fnamemodify(api.nvim_buf_get_name(out_buf), ":t") == "output"
    and "kernelbridge://output" or api.nvim_buf_get_name(out_buf), "output buffer name")
  vim.cmd("close")
  api.nvim_set_current_win(src_win)
end)

H.test("run line, a visual range, a markdown cell is skipped", function()
  H.cursor(19)
  H.run_at(18, function()
    vim.cmd("KernelbridgeRunLine") -- x + 1 -> 42
  end)
  H.wait_virt("│ 42")
  local exec = H.run_at(2, function()
    vim.cmd("2,3KernelbridgeRunRange")
  end)
  local first, last = require("kernelbridge.output").exec_lines(exec)
  H.eq({ 1, 2 }, { first, last }, "the range's lines")
  H.ok(H.contains(H.virt_lines(buf), "│ hello from the kernel"), "the range's output")
  H.cursor(17)
  local before = #H.messages
  kb.run_cell()
  H.wait(5000, function()
    return H.captured("nothing to run here")
  end, "a 'nothing to run' message")
  H.ok(#H.messages > before)
end)

H.test("run above and run all: every cell drawn, the run stops at the error", function()
  kb.clear()
  H.eq({}, (H.virt_lines(buf)), "cleared")
  H.cursor(10)
  H.run_at(5, function()
    vim.cmd("KernelbridgeRunAbove")
  end)
  H.ok(H.exec_at(1).state == "done", "first cell done")
  H.ok(H.exec_at(10) == nil, "the cursor's cell is not run")
  H.run_at(17, function()
    vim.cmd("KernelbridgeRunAll")
  end, { skipped = true })
  H.eq("failed", H.exec_at(10).state, "the failing cell")
  local lines = H.virt_lines(buf)
  H.ok(H.contains(lines, "skipped"), "skipped cell shown")
end)

H.test("display updates and clear_output", function()
  local b2 = H.open("display.py", {
    "# %%",
    "from IPython.display import display, clear_output",
    "h = display('first', display_id=True)",
    "# %%",
    "h.update('second')",
    "# %%",
    "print('a'); clear_output(wait=True); print('b')",
  })
  H.run_cell(2)
  H.ok(H.contains(H.virt_lines(b2), "'first'"), "the display")
  H.run_cell(5)
  H.wait_virt("'second'", 5000, b2)
  H.ok(not H.contains(H.virt_lines(b2), "'first'"), "updated in place")
  local exec = H.run_cell(7)
  local texts = {}
  for _, item in ipairs(exec.items) do
    vim.list_extend(texts, require("kernelbridge.terminal").text(item.term))
  end
  H.eq({ "b" }, texts, "output after clear_output")
end)

H.test("a flood of output stays responsive; :KernelbridgeClear; the output window follows", function()
  local b4 = H.open("flood.py", { "for i in range(50000): print('row', i)", "print('second')" })
  vim.cmd("KernelbridgeOutput") -- no output at the cursor: the window follows the newest run
  local out_buf = api.nvim_get_current_buf()
  vim.cmd("wincmd p")
  H.eq(b4, api.nvim_get_current_buf(), "back in the source")
  local t0 = (vim.uv or vim.loop).hrtime()
  H.run_at(0, function()
    vim.cmd("KernelbridgeRunLine")
  end, nil, 30000)
  H.wait_virt("│ row 49999", 5000, b4)
  local ms = ((vim.uv or vim.loop).hrtime() - t0) / 1e6
  H.ok(ms < 20000, string.format("50000 lines drawn in %.0f ms", ms))
  H.wait(5000, function()
    local lines = api.nvim_buf_get_lines(out_buf, 0, -1, false)
    return #lines == 50001 and lines[#lines] == "row 49999"
  end, "all 50000 lines in the output window")
  H.cursor(2)
  H.run_at(1, function()
    vim.cmd("KernelbridgeRunLine")
  end)
  H.wait(5000, function()
    return api.nvim_buf_get_lines(out_buf, -2, -1, false)[1] == "second"
  end, "the window following the newest run")
  vim.cmd("KernelbridgeClear")
  H.eq({}, (H.virt_lines(b4)), "output cleared")
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(win) == out_buf then
      api.nvim_win_close(win, true)
    end
  end
end)

H.test("an image output: the file the daemon wrote", function()
  local b3 = H.open("plot.py", {
    "import matplotlib",
    "matplotlib.use('module://matplotlib_inline.backend_inline')",
    "import matplotlib.pyplot as plt",
    "plt.plot([1, 3, 2])",
    "plt.show()",
  })
  H.run_at(0, function()
    vim.cmd("1,5KernelbridgeRunRange")
  end, nil, 60000)
  local path
  for _, l in ipairs(H.virt_lines(b3)) do
    path = path or l:match("%[image/png%] (%S+%.png)")
  end
  H.ok(path, "an image line: " .. vim.inspect(H.virt_lines(b3)))
  H.eq(1, vim.fn.filereadable(path), "image file exists")
  local head = io.open(path, "rb"):read(8)
  H.eq("\137PNG\r\n\26\n", head, "PNG signature")
end)

H.run()
