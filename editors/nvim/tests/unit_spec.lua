-- Pure Lua parts: terminal semantics of stream text, ANSI colours, options, status notifications. No daemon.
local H = dofile(os.getenv("KB_NVIM_ROOT") .. "/tests/harness.lua")
local terminal = require("kernelbridge.terminal")
local ansi = require("kernelbridge.ansi")
local config = require("kernelbridge.config")

ansi.setup_highlights()

local function text(t)
  return terminal.text(t)
end

H.test("terminal: newlines, and a last empty line is not drawn", function()
  local t = terminal.new()
  terminal.write(t, "a\nb\n")
  H.eq({ "a", "b" }, text(t))
  terminal.write(t, "c")
  H.eq({ "a", "b", "c" }, text(t))
end)

H.test("terminal: \\r overwrites character by character, across writes", function()
  local t = terminal.new()
  terminal.write(t, "progress 10%")
  terminal.write(t, "\rprogress 100%")
  H.eq({ "progress 100%" }, text(t))
  terminal.write(t, "\rXY")
  H.eq({ "XYogress 100%" }, text(t))
  terminal.write(t, "\n\r2/2 ok\n")
  H.eq({ "XYogress 100%", "2/2 ok" }, text(t))
end)

H.test("terminal: a write ending in \\r plus a prefix leaves the cursor there", function()
  local t = terminal.new()
  terminal.write(t, "abcdef")
  terminal.write(t, "\rab") -- cursor after "ab"
  terminal.write(t, "XY")
  H.eq({ "abXYef" }, text(t))
  terminal.write(t, "Z\n")
  H.eq({ "abXYZf" }, text(t))
end)

H.test("terminal: \\b, \\r\\n, tabs and multibyte characters", function()
  local t = terminal.new()
  terminal.write(t, "héllo\b\bXY\r\nnext\tx\n")
  H.eq({ "hélXY", "next    x" }, text(t))
  t = terminal.new()
  terminal.write(t, "日本語\r日")
  H.eq({ "日本語" }, text(t))
end)

H.test("terminal: ANSI colours become highlight groups, escapes never reach the text", function()
  local t = terminal.new()
  terminal.write(t, "\27[31mred\27[0m plain \27[1;32mbold green\27[39m\27[22m end\27[K")
  H.eq({ "red plain bold green end" }, text(t))
  local line = t.lines[1]
  H.eq({ "red", "KernelbridgeAnsiRed" }, line[1])
  H.eq({ " plain ", nil }, { line[2][1], line[2][2] })
  H.eq("KernelbridgeAnsiGreenBold", line[3][2])
  H.ok(vim.fn.hlexists("KernelbridgeAnsiGreenBold") == 1, "combined group defined")
end)

H.test("terminal: an escape sequence split between two writes", function()
  local t = terminal.new()
  terminal.write(t, "a\27[3")
  terminal.write(t, "1mb")
  H.eq({ "ab" }, text(t))
  H.eq("KernelbridgeAnsiRed", t.lines[1][2][2])
end)

H.test("terminal: \\r over coloured text keeps the colours of what is written", function()
  local t = terminal.new()
  terminal.write(t, "\27[34m50%\27[0m")
  terminal.write(t, "\r\27[32m9")
  H.eq({ "90%" }, text(t))
  H.eq({ { "9", "KernelbridgeAnsiGreen" }, { "0%", "KernelbridgeAnsiBlue" } }, t.lines[1])
end)

H.test("ansi: 256 and true colours, strip", function()
  local st = ansi.state()
  ansi.apply(st, "38;5;208")
  H.eq("KernelbridgeAnsiC208", ansi.group(st))
  ansi.apply(st, "0;38;2;1;2;3;44")
  H.eq("KernelbridgeAnsiX010203OnBlue", ansi.group(st))
  ansi.apply(st, "")
  H.eq(nil, ansi.group(st))
  H.eq("ab", ansi.strip("\27[1;31ma\27[0mb"))
end)

H.test("config: deep merge, lists replaced", function()
  local o = config.set({ filetypes = { "python", "julia" }, init_options = { kernels = { autoStart = false } } })
  H.eq({ "python", "julia" }, o.filetypes)
  H.eq(false, o.init_options.kernels.autoStart)
  H.eq("text/plain", o.init_options.output.mimeTypes[#o.init_options.output.mimeTypes])
  o = config.set({ init_options = { output = { mimeTypes = { "text/plain" } } } })
  H.eq({ "text/plain" }, o.init_options.output.mimeTypes)
  config.set({})
end)

local kitty = require("kernelbridge.kitty")

local function env(t)
  return function(name)
    return t[name]
  end
end

H.test("kitty: base64 of paths", function()
  H.eq("", kitty.base64(""))
  H.eq("Zg==", kitty.base64("f"))
  H.eq("Zm8=", kitty.base64("fo"))
  H.eq("Zm9v", kitty.base64("foo"))
  H.eq("L3RtcC9hLnBuZw==", kitty.base64("/tmp/a.png"))
  local path = "/home/u/.cache/kernelbridge/images/5f9d7a60 é.png"
  H.eq(vim.fn.system({ "base64", "-w0" }, path), kitty.base64(path))
end)

H.test("kitty: transmit+place, delete and cursor sequences", function()
  H.eq("\27_Ga=T,f=100,t=f,q=2,C=1,i=7,c=40,r=10;L3RtcC9hLnBuZw==\27\\",
    kitty.transmit_place(7, "/tmp/a.png", 40, 10))
  H.eq("\27_Ga=d,d=I,i=7,q=2\27\\", kitty.delete(7))
  H.eq("\0277\27[5;9HX\0278", kitty.at(5, 9, "X"))
end)

H.test("kitty: detection from the environment", function()
  H.eq("path", kitty.detect(env({ TERM = "xterm-256color" })))
  H.eq("path", kitty.detect(env({ TERM = "tmux-256color", TMUX = "/tmp/tmux-0/default,1,0" })))
  H.eq("path", kitty.detect(env({ TERM = "screen-256color", KITTY_WINDOW_ID = "1" })))
  H.eq("path", kitty.detect(env({ TERM = "xterm-256color", TMUX = "x", TERM_PROGRAM = "WezTerm" })))
  H.eq("path", kitty.detect(env({})))
  H.eq("kitty", kitty.detect(env({ TERM = "xterm-kitty" })))
  H.eq("kitty", kitty.detect(env({ TERM = "xterm-256color", KITTY_WINDOW_ID = "3" })))
  H.eq("kitty", kitty.detect(env({ TERM = "xterm-256color", TERM_PROGRAM = "WezTerm" })))
  H.eq("kitty", kitty.detect(env({ TERM = "xterm-ghostty", TERM_PROGRAM = "ghostty" })))
  H.eq("path", kitty.mode("auto", env({ TERM = "xterm-256color" })))
  H.eq("path", kitty.mode(nil, env({ TERM = "tmux-256color", TMUX = "x" })))
  H.eq("kitty", kitty.mode("kitty", env({ TERM = "xterm-256color" })))
  H.eq("path", kitty.mode("path", env({ TERM = "xterm-kitty" })))
end)

-- A PNG header (all png_size reads) of w x h pixels.
local function png(path, w, h)
  local function u32(n)
    return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  end
  local f = assert(io.open(path, "wb"))
  f:write("\137PNG\r\n\26\n" .. u32(13) .. "IHDR" .. u32(w) .. u32(h) .. "\8\6\0\0\0")
  f:close()
  return path
end

H.test("kitty: PNG size and cells", function()
  local p = png(H.tmp .. "/size.png", 640, 480)
  H.eq({ 640, 480 }, { kitty.png_size(p) })
  H.eq({}, { kitty.png_size(H.tmp .. "/missing.png") })
  H.eq({ 32, 12 }, { kitty.cells(640, 480, 12, 100) })
  H.eq({ 20, 8 }, { kitty.cells(640, 480, 12, 20) }) -- narrower: fewer rows, same shape
  H.eq({ 30, 10 }, { kitty.cells(nil, nil, 10, 100) })
end)

H.test("config: output.images is checked", function()
  H.eq("auto", config.set({}).output.images)
  H.eq("kitty", config.set({ output = { images = "kitty" } }).output.images)
  H.ok(not pcall(config.set, { output = { images = "sixel" } }), "sixel refused")
  config.set({})
end)

H.test("output: images as paths by default, kitty placements over reserved rows", function()
  local output = require("kernelbridge.output")
  local written = {}
  output.tty_write = function(data)
    written[#written + 1] = data
  end
  local image = png(H.tmp .. "/plot.png", 400, 300)
  local function run(id, bufname)
    vim.cmd("enew")
    local b = vim.api.nvim_get_current_buf()
    vim.api.nvim_buf_set_name(b, H.tmp .. "/" .. bufname)
    vim.api.nvim_buf_set_lines(b, 0, -1, false, { "plot()", "", "x = 1" })
    local range = { start = { line = 0, character = 0 }, ["end"] = { line = 1, character = 0 } }
    output.on_cell_state({ executionId = id, kernelId = "k", uri = vim.uri_from_bufnr(b), range = range, state = "running" })
    output.on_output({ executionId = id, type = "display_data", content = { files = { ["image/png"] = image } } })
    output.on_cell_state({ executionId = id, kernelId = "k", uri = vim.uri_from_bufnr(b), range = range, state = "done", executionCount = 1 })
    local exec = output.executions[id]
    H.wait(2000, function()
      return exec.images ~= nil
    end, "drawn")
    return b, exec
  end

  config.set({ output = { images = "path" } })
  local b, exec = run("img-path", "path.py")
  H.eq({}, exec.images)
  local marks = vim.api.nvim_buf_get_extmarks(b, output.ns, 0, -1, { details = true })
  local lines = {}
  for _, m in ipairs(marks) do
    for _, l in ipairs(m[4].virt_lines or {}) do
      local t = {}
      for _, c in ipairs(l) do
        t[#t + 1] = c[1]
      end
      lines[#lines + 1] = table.concat(t)
    end
  end
  H.eq(2, #lines)
  H.eq("│ [image/png] " .. image, lines[2])
  vim.wait(50)
  H.eq({}, written)

  config.set({ output = { images = "kitty", image_rows = 6 } })
  b, exec = run("img-kitty", "kitty.py")
  H.eq(1, #exec.images)
  H.eq({ cols = 16, rows = 6 }, { cols = exec.images[1].image.cols, rows = exec.images[1].image.rows })
  marks = vim.api.nvim_buf_get_extmarks(b, output.ns, 0, -1, { details = true })
  local n = 0
  for _, m in ipairs(marks) do
    n = n + #(m[4].virt_lines or {})
  end
  H.eq(2 + 6, n, "header, path and 6 reserved rows")
  H.wait(2000, function()
    return #written > 0
  end, "images placed")
  local seq = written[#written]
  local info = vim.fn.getwininfo(vim.api.nvim_get_current_win())[1]
  local row = vim.fn.screenpos(0, 1, 1).row + 3 -- under the header and the path
  local col = info.wincol + info.textoff + 2
  local expect = kitty.at(row, col, kitty.transmit_place(output.placed[1], image, 16, 6))
  H.eq(expect, seq)

  written = {}
  local id = output.placed[1]
  output.clear(b)
  H.wait(2000, function()
    return #written > 0
  end, "images deleted")
  H.eq(kitty.delete(id), written[1])
  H.eq({}, output.placed)
  config.set({})
end)

H.test("status: unresponsive warns once, its recovery is told, the statusline shows it", function()
  local kb = require("kernelbridge")
  local kernels = require("kernelbridge.kernels")
  local on_status = require("kernelbridge.client").handlers["kernelbridge/status"]
  local kid = "0123456789abcdef0123456789abcdef"
  local reason = "the kernel stopped answering its heartbeat (its process is alive: stopped, frozen or overloaded)"
  local said = {}
  local real_notify = vim.notify
  vim.notify = function(msg, level)
    said[#said + 1] = { msg, level }
  end
  local ok, err = pcall(function()
    vim.cmd("enew")
    local b = vim.api.nvim_get_current_buf()
    kernels.update({ kernelId = kid, kernelspec = "python3", displayName = "Python 3 (ipykernel)", state = "idle" })
    kernels.bind(b, kid)
    H.eq("python3 idle", kb.statusline(b))

    on_status(nil, { kernelId = kid, state = "unresponsive", reason = reason })
    on_status(nil, { kernelId = kid, state = "unresponsive", reason = reason }) -- told once
    H.eq("unresponsive", kb.status(b))
    H.eq("python3 unresponsive", kb.statusline(b))
    H.eq(1, #said, "notifications")
    H.eq(vim.log.levels.WARN, said[1][2])
    H.ok(said[1][1]:find("kernelbridge: kernel Python 3 (ipykernel) [01234567] is unresponsive: " .. reason, 1, true),
      said[1][1])
    H.ok(said[1][1]:find(":KernelbridgeRestart", 1, true), "the way out")

    -- its heartbeat answers again: the state before is sent again
    on_status(nil, { kernelId = kid, state = "idle" })
    H.eq("python3 idle", kb.statusline(b))
    H.eq({ "kernelbridge: kernel Python 3 (ipykernel) [01234567] answers again (idle)", vim.log.levels.INFO },
      said[2])

    -- a busy of an execution also ends it; its idle is not a recovery
    on_status(nil, { kernelId = kid, state = "unresponsive", reason = reason })
    on_status(nil, { kernelId = kid, state = "busy", executionId = "01234567-9" })
    on_status(nil, { kernelId = kid, state = "idle", executionId = "01234567-9" })
    H.eq(4, #said, "notifications")
    H.eq(vim.log.levels.WARN, said[3][2])
    H.eq({ "kernelbridge: kernel Python 3 (ipykernel) [01234567] answers again (busy)", vim.log.levels.INFO },
      said[4])
    H.eq("python3 idle", kb.statusline(b))
  end)
  vim.notify = real_notify
  kernels.forget(kid)
  if not ok then
    error(err, 0)
  end
end)

H.test("the help file's tags are valid", function()
  local dir = H.tmp .. "/doc"
  vim.fn.mkdir(dir, "p")
  vim.fn.writefile(vim.fn.readfile(H.root .. "/doc/kernelbridge.txt"), dir .. "/kernelbridge.txt")
  vim.cmd("helptags " .. vim.fn.fnameescape(dir))
  local tags = table.concat(vim.fn.readfile(dir .. "/tags"), "\n")
  for _, tag in ipairs({ "kernelbridge", ":KernelbridgeRunCell", "kernelbridge.status()" }) do
    H.ok(tags:find(tag .. "\t", 1, true), "tag " .. tag)
  end
end)

H.run()
