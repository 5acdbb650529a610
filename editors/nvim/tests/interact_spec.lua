-- input() prompts, interrupt, restart, shutdown, a dying kernel, a dying daemon, checkhealth.
local H = dofile(os.getenv("KB_NVIM_ROOT") .. "/tests/harness.lua")
local api = vim.api
local uv = vim.uv or vim.loop

H.capture_notify()
local kb = require("kernelbridge")
local pidfile = H.tmp .. "/daemon.pid"
kb.setup({ cmd = H.cmd(pidfile) })

local async_ui = vim.fn.has("nvim-0.10") == 1
local buf

H.test("start a kernel; :checkhealth kernelbridge reports the daemon and kernelspecs", function()
  buf = H.open("interact.py", {
    "name = input('Your name: ')", --  1
    "print('Hello,', name)", --  2
    "# %%", --  3
    "import getpass", --  4
    "pw = getpass.getpass('Password: ')", --  5
    "print(len(pw), pw == 's3cret')", --  6
    "# %%", --  7
    "import time", --  8
    "print('looping', flush=True)", --  9
    "while True: time.sleep(0.05)", -- 10
    "# %%", -- 11
    "print('x' in globals())", -- 12
    "# %%", -- 13
    "import os; os._exit(7)", -- 14
    "# %%", -- 15
    "x = 1", -- 16
  })
  H.start_kernel()
  vim.cmd("checkhealth kernelbridge")
  local text = table.concat(api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  H.ok(text:find("daemon running", 1, true), "daemon running in:\n" .. text)
  H.ok(text:find("kernelspec python3", 1, true), "python3 kernelspec in:\n" .. text)
  H.ok(text:find("idle", 1, true), "the kernel and its state in:\n" .. text)
  vim.cmd("tabclose")
  H.eq(buf, api.nvim_get_current_buf(), "back in the buffer")
end)

H.test("input() answered with vim.ui.input" .. (async_ui and " (asynchronously)" or ""), function()
  local prompts = {}
  local orig = vim.ui.input
  vim.ui.input = function(opts, on_confirm)
    prompts[#prompts + 1] = opts.prompt
    if async_ui then
      vim.schedule(function()
        on_confirm("Ada")
      end) -- as a floating-window UI would, later
    else
      on_confirm("Ada")
    end
  end
  H.run_cell(1)
  vim.ui.input = orig
  H.ok(H.contains(H.virt_lines(buf), "│ Hello, Ada"), "the answer reached the kernel")
  H.eq({ "Your name: " }, prompts, "prompts shown")
end)

H.test("a cancelled input() prompt sends an empty line", function()
  local orig = vim.ui.input
  vim.ui.input = function(_, on_confirm)
    on_confirm(nil)
  end
  H.run_cell(1)
  vim.ui.input = orig
  H.ok(H.contains(H.virt_lines(buf), "│ Hello, "), "an empty answer")
  H.ok(not H.contains(H.virt_lines(buf), "Ada"), "the previous output replaced")
end)

H.test("a password prompt is read with inputsecret, not vim.ui.input", function()
  local asked
  local orig_secret, orig_input = vim.fn.inputsecret, vim.ui.input
  vim.fn.inputsecret = function(prompt)
    asked = prompt
    return "s3cret"
  end
  vim.ui.input = function()
    error("vim.ui.input must not read passwords")
  end
  H.run_cell(5)
  H.ok(H.contains(H.virt_lines(buf), "│ 6 True"), "the password reached the kernel")
  vim.fn.inputsecret, vim.ui.input = orig_secret, orig_input
  H.eq("Password: ", asked)
end)

H.test("interrupt a busy loop", function()
  H.cursor(9)
  kb.run_cell()
  H.wait_virt("│ looping")
  H.eq("busy", kb.status(), "status while looping")
  vim.cmd("KernelbridgeInterrupt")
  local exec
  H.wait(15000, function()
    exec = H.exec_at(8)
    return exec.state == "failed"
  end, "the interrupted cell to fail")
  H.ok(H.contains(H.virt_lines(buf), "KeyboardInterrupt"), "KeyboardInterrupt drawn")
  H.wait(5000, function()
    return kb.status() == "idle"
  end, "idle after the interrupt")
  H.eq("failed", exec.state)
end)

H.test("restart: a new kernel process, the variables are gone", function()
  H.run_cell(16)
  vim.cmd("KernelbridgeRestart")
  H.wait(30000, function()
    return H.captured("restarted") and kb.status() == "idle"
  end, "the restart")
  H.run_cell(12)
  H.ok(H.contains(H.virt_lines(buf), "│ False"), "x is gone")
end)

H.test("a kernel that dies: a clear message, status dead, restart brings it back", function()
  H.run_cell(14, { failed = true })
  H.wait(15000, function()
    return kb.status() == "dead" and H.captured("died")
  end, "status dead and a message")
  vim.cmd("KernelbridgeRestart")
  H.wait(30000, function()
    return kb.status() == "idle"
  end, "idle after the restart")
  H.run_cell(12)
end)

H.test("shutdown: the kernel goes away, the buffer has no kernel", function()
  vim.cmd("KernelbridgeShutdown")
  H.wait(15000, function()
    return H.captured("shut down") and kb.status() == ""
  end, "the shutdown")
end)

H.test("connect to a kernel started elsewhere; shutdown only disconnects", function()
  local python = vim.fn.fnamemodify(H.daemon, ":h") .. "/python"
  if vim.fn.executable(python) ~= 1 then
    python = "python3"
  end
  local conn = H.tmp .. "/external-kernel.json"
  local job = vim.fn.jobstart({ python, "-m", "ipykernel_launcher", "-f", conn })
  H.ok(job > 0, "ipykernel launched")
  H.wait(30000, function()
    return vim.fn.filereadable(conn) == 1 and #table.concat(vim.fn.readfile(conn)) > 0
  end, "the external kernel's connection file")
  vim.cmd("KernelbridgeConnect " .. vim.fn.fnameescape(conn))
  H.wait(30000, function()
    return kb.status() == "idle" and H.captured("connected to kernel")
  end, "the connection")
  H.eq(false, kb.kernel().owned, "a kernel the daemon does not own")
  local exec = H.run_cell(12)
  H.eq(exec.kernel_id, kb.kernel().kernelId, "ran on the connected kernel")
  vim.cmd("KernelbridgeShutdown")
  H.wait(15000, function()
    return H.captured("disconnected from kernel") and kb.status() == ""
  end, "the disconnection")
  H.eq(-1, vim.fn.jobwait({ job }, 0)[1], "the external kernel keeps running")
  vim.fn.jobstop(job)
end)

H.test("a daemon that dies: a clear message, and the next run starts a new one", function()
  H.run_cell(12, nil, 60000) -- auto-starts a kernel for the buffer
  local pid = tonumber(vim.fn.readfile(pidfile)[1])
  local old_client = kb.get_client().id
  uv.kill(pid, "sigkill")
  H.wait(10000, function()
    return H.captured("the daemon") and kb.status() == "dead"
  end, "a message about the daemon's death")
  H.eq(nil, kb.get_client(), "no client")
  H.run_cell(12, nil, 60000)
  H.ok(kb.get_client().id ~= old_client, "a new daemon")
  H.eq("idle", kb.status())
end)

H.run()
