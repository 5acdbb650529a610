-- Drawing of kernel output: virtual lines under the executed code (an extmark at the last line
-- of the range the daemon reports in kernelbridge/cellState) and a scrollable output window.
--
-- The daemon already shapes output (coalescing, MIME choice, image files, display ids,
-- clear_output timing); this module only keeps what it was sent per execution and draws it.
local config = require("kernelbridge.config")
local terminal = require("kernelbridge.terminal")
local kitty = require("kernelbridge.kitty")

local api = vim.api
local uv = vim.uv or vim.loop

local M = {}

M.ns = api.nvim_create_namespace("kernelbridge")

---@type table<string, kernelbridge.Execution>
M.executions = {}
---@type string[] execution ids, oldest first
M.order = {}
---@type table<string, { exec: kernelbridge.Execution, item: kernelbridge.OutputItem }[]>
M.displays = {}

M.window = { buf = nil, exec_id = nil, follow = false }

local dirty = {} -- exec id -> true
local render_scheduled = false

local state_hl = {
  queued = "KernelbridgeQueued",
  running = "KernelbridgeRunning",
  done = "KernelbridgeDone",
  failed = "KernelbridgeFailed",
  skipped = "KernelbridgeSkipped",
}

local function now()
  return uv.hrtime() / 1e9
end

local function buf_for_uri(uri)
  for _, b in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(b) and vim.uri_from_bufnr(b) == uri then
      return b
    end
  end
  return nil
end
M.buf_for_uri = buf_for_uri

local function mark_row(exec, mark)
  if not (exec.bufnr and api.nvim_buf_is_valid(exec.bufnr) and mark) then
    return nil
  end
  local pos = api.nvim_buf_get_extmark_by_id(exec.bufnr, M.ns, mark, {})
  return pos[1]
end

--- The first and last line (0-based) of an execution's code, as they are now.
---@return integer|nil, integer|nil
function M.exec_lines(exec)
  return mark_row(exec, exec.start_mark), mark_row(exec, exec.mark)
end

local function remove(exec)
  exec.removed = true
  M.executions[exec.id] = nil
  for i, id in ipairs(M.order) do
    if id == exec.id then
      table.remove(M.order, i)
      break
    end
  end
  if api.nvim_buf_is_valid(exec.bufnr) then
    for _, mark in ipairs({ exec.mark, exec.start_mark }) do
      pcall(api.nvim_buf_del_extmark, exec.bufnr, M.ns, mark)
    end
  end
end

---------------------------------------------------------------------------------------------
-- Rendering of one execution into lines of chunks

--- The mode images are drawn with: "kitty" (graphics protocol) or "path".
function M.image_mode()
  return kitty.mode(config.options.output.images)
end

--- What a PNG output takes on screen in kitty mode: { path, cols, rows }, or nil.
local function image_of(files)
  local path = files["image/png"]
  if type(path) ~= "string" or M.image_mode() ~= "kitty" then
    return nil
  end
  local opts = config.options.output
  local w, h = kitty.png_size(path)
  local cols, rows = kitty.cells(w, h, opts.image_rows or 12, math.min(opts.max_width, vim.o.columns) - 2)
  return { path = path, w = w, h = h, cols = cols, rows = rows }
end

local function display_lines(content)
  local lines = {}
  local files = content.files or {}
  local data = content.data or {}
  local mimes = vim.tbl_keys(files)
  table.sort(mimes)
  for _, mime in ipairs(mimes) do
    lines[#lines + 1] = { { "[" .. mime .. "] ", "KernelbridgeNote" }, { files[mime], "KernelbridgeImage" } }
  end
  local image = image_of(files)
  if image then
    -- Blank rows under the path, where the image is placed; the first one carries it.
    for i = 1, image.rows do
      lines[#lines + 1] = { image = i == 1 and image or nil, reserved = true }
    end
  end
  if #mimes == 0 then
    local plain = data["text/plain"]
    if type(plain) == "string" then
      vim.list_extend(lines, terminal.lines(plain, "KernelbridgeOutput"))
    else
      local kinds = vim.tbl_keys(data)
      table.sort(kinds)
      lines[#lines + 1] = { { "[" .. table.concat(kinds, ", ") .. "]", "KernelbridgeNote" } }
    end
  end
  return lines
end

--- Lines of an output item.
---@param item kernelbridge.OutputItem
---@return integer count, fun(i: integer): kernelbridge.Line
local function item_lines(item)
  if item.term then
    local h = terminal.height(item.term)
    return h, function(i)
      return item.term.lines[i]
    end
  end
  return #item.lines, function(i)
    return item.lines[i]
  end
end

local function header(exec)
  local text
  if exec.state == "queued" then
    text = "[ ] queued"
  elseif exec.state == "running" then
    text = "[*] running"
  elseif exec.state == "skipped" then
    text = "[ ] skipped"
  else
    text = string.format("[%s] %s", exec.count or "?", exec.state)
    if exec.started and exec.ended then
      text = text .. string.format(" %.2fs", exec.ended - exec.started)
    end
  end
  return { { "┌ ", "KernelbridgeBorder" }, { text, state_hl[exec.state] or "KernelbridgeNote" } }
end
M.header = header

--- All output lines of an execution (no header), or only the last `max` ones.
---@return kernelbridge.Line[] lines, integer total
local function body(exec, max)
  local total = 0
  for _, item in ipairs(exec.items) do
    total = total + (item_lines(item))
  end
  local want = max and math.min(max, total) or total
  local out = {}
  local skip = total - want
  for _, item in ipairs(exec.items) do
    local n, get = item_lines(item)
    if skip >= n then
      skip = skip - n
    else
      for i = skip + 1, n do
        out[#out + 1] = get(i)
      end
      skip = 0
    end
  end
  return out, total
end
M.body = body

local function clip(line, width)
  local out, used = {}, 0
  for _, chunk in ipairs(line) do
    local text = chunk[1]
    local n = vim.fn.strchars(text)
    if used + n > width then
      out[#out + 1] = { vim.fn.strcharpart(text, 0, width - used), chunk[2] }
      out[#out + 1] = { "…", "KernelbridgeNote" }
      return out
    end
    used = used + n
    out[#out + 1] = { text, chunk[2] }
  end
  return out
end

local function virt_lines(exec)
  local opts = config.options.output
  local lines, total = body(exec, opts.max_lines)
  local out = { header(exec) }
  if total > #lines then
    out[#out + 1] = {
      { "│ ", "KernelbridgeBorder" },
      { string.format("… %d lines above (:KernelbridgeOutput)", total - #lines), "KernelbridgeNote" },
    }
  end
  local images = {}
  for _, line in ipairs(lines) do
    local l = { { "│ ", "KernelbridgeBorder" } }
    if line.image then
      images[#images + 1] = { index = #out + 1, image = line.image }
    end
    for _, chunk in ipairs(clip(line, opts.max_width)) do
      if chunk[1] ~= "" then
        l[#l + 1] = { chunk[1], chunk[2] or "KernelbridgeOutput" }
      end
    end
    out[#out + 1] = l
  end
  return out, images
end
M.virt_lines = virt_lines

local function draw(exec)
  if exec.removed or not api.nvim_buf_is_valid(exec.bufnr) then
    return
  end
  local row = mark_row(exec, exec.mark)
  if not row then
    return
  end
  if config.options.output.virtual_lines then
    local lines, images = virt_lines(exec)
    exec.images = images
    api.nvim_buf_set_extmark(exec.bufnr, M.ns, row, 0, {
      id = exec.mark,
      virt_lines = lines,
      virt_lines_above = false,
    })
  end
end

---------------------------------------------------------------------------------------------
-- Images through the kitty graphics protocol, placed over the blank virtual lines reserved
-- for them. Every placement is deleted and made again on each redraw (output, scrolling,
-- resizing, :KernelbridgeOutput).

M.placed = {} -- image ids on the terminal now
local next_image_id = 0x4b420000 -- "KB" in the high bytes, out of the way of other plugins
local place_scheduled = false

--- Whether a terminal UI is attached (nothing is written headless or to a GUI).
local function tty_ui()
  for _, ui in ipairs(api.nvim_list_uis()) do
    if ui.stdout_tty == true or (ui.stdout_tty == nil and ui.chan == 0) then
      return true
    end
  end
  return false
end

--- Writes escape sequences to the terminal Neovim runs in (replaced in tests).
function M.tty_write(data)
  if not tty_ui() then
    return
  end
  if api.nvim_ui_send then
    api.nvim_ui_send(data)
  else
    io.stdout:write(data)
    io.stdout:flush()
  end
end

--- Screen placements of the images of an execution in a window: { row, col, cols, rows, path }.
local function placements_in(win, exec, out)
  local row = mark_row(exec, exec.mark)
  if not row then
    return
  end
  local info = vim.fn.getwininfo(win)[1]
  local lnum = row + 1
  if not info or lnum < info.topline or lnum > info.botline then
    return
  end
  local view = api.nvim_win_call(win, function() -- returns one value
    return { folded = vim.fn.foldclosed(lnum), leftcol = vim.fn.winsaveview().leftcol }
  end)
  if view.folded ~= -1 or view.leftcol > 0 then
    return
  end
  local pos = vim.fn.screenpos(win, lnum, 1)
  if not pos or (pos.row or 0) == 0 then
    return
  end
  local textwidth = info.width - info.textoff
  local height = 1
  if vim.wo[win].wrap then
    local text = api.nvim_buf_get_lines(exec.bufnr, row, row + 1, false)[1] or ""
    height = math.max(1, math.ceil(vim.fn.strdisplaywidth(text) / math.max(1, textwidth)))
  end
  local last_row = info.winrow + info.height - 1
  for _, img in ipairs(exec.images) do
    local image = img.image
    local top = pos.row + height - 1 + img.index
    local cols, rows = image.cols, image.rows
    if cols > textwidth - 2 then
      cols, rows = kitty.cells(image.w, image.h, image.rows, textwidth - 2)
    end
    if top + rows - 1 <= last_row and cols >= 1 then
      out[#out + 1] = { row = top, col = info.wincol + info.textoff + 2, cols = cols, rows = rows, path = image.path }
    end
  end
end

--- The images of every execution on screen in the current tab page.
function M.image_placements()
  local out = {}
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    local buf = api.nvim_win_get_buf(win)
    for _, id in ipairs(M.order) do
      local exec = M.executions[id]
      if exec and exec.bufnr == buf and exec.images and #exec.images > 0 then
        placements_in(win, exec, out)
      end
    end
  end
  return out
end

--- Deletes the images on the terminal, then places those on screen now.
function M.place_images()
  place_scheduled = false
  local parts = {}
  for _, id in ipairs(M.placed) do
    parts[#parts + 1] = kitty.delete(id)
  end
  M.placed = {}
  if M.image_mode() == "kitty" and config.options.output.virtual_lines then
    vim.cmd("redraw") -- the virtual lines must be on screen before the images go over them
    local ok, placements = pcall(M.image_placements)
    for _, p in ipairs(ok and placements or {}) do
      next_image_id = next_image_id + 1
      M.placed[#M.placed + 1] = next_image_id
      parts[#parts + 1] = kitty.at(p.row, p.col, kitty.transmit_place(next_image_id, p.path, p.cols, p.rows))
    end
  end
  if #parts > 0 then
    M.tty_write(table.concat(parts))
  end
end

--- Places the images again on the next turn of the event loop (once, however often called).
function M.schedule_images()
  if place_scheduled or (#M.placed == 0 and M.image_mode() ~= "kitty") then
    return
  end
  place_scheduled = true
  vim.schedule(M.place_images)
end

---------------------------------------------------------------------------------------------
-- Output window

local function window_exec()
  local w = M.window
  if w.follow then
    return M.executions[M.order[#M.order]]
  end
  return w.exec_id and M.executions[w.exec_id]
end

local function draw_window()
  local w = M.window
  if not (w.buf and api.nvim_buf_is_valid(w.buf)) then
    return
  end
  local exec = window_exec()
  local text, hls = {}, {}
  if not exec then
    text[1] = "(no output)"
  else
    local first, last = M.exec_lines(exec)
    local name = api.nvim_buf_is_valid(exec.bufnr) and vim.fn.fnamemodify(api.nvim_buf_get_name(exec.bufnr), ":~:.") or "?"
    local lines = { header(exec) }
    lines[1][#lines[1] + 1] = {
      string.format("  %s:%s-%s", name, first and first + 1 or "?", last and last + 1 or "?"),
      "KernelbridgeNote",
    }
    for _, line in ipairs((body(exec))) do
      if not line.reserved then -- the rows kept for an image under the virtual lines
        lines[#lines + 1] = line
      end
    end
    for row, line in ipairs(lines) do
      local parts, col = {}, 0
      for _, chunk in ipairs(line) do
        parts[#parts + 1] = chunk[1]
        if chunk[2] then
          hls[#hls + 1] = { chunk[2], row - 1, col, col + #chunk[1] }
        end
        col = col + #chunk[1]
      end
      text[row] = table.concat(parts)
    end
  end
  vim.bo[w.buf].modifiable = true
  api.nvim_buf_set_lines(w.buf, 0, -1, false, text)
  vim.bo[w.buf].modifiable = false
  api.nvim_buf_clear_namespace(w.buf, M.ns, 0, -1)
  for _, h in ipairs(hls) do
    api.nvim_buf_add_highlight(w.buf, M.ns, h[1], h[2], h[3], h[4])
  end
  -- Keep windows that were at the bottom at the bottom while output streams in.
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_buf(win) == w.buf and win ~= api.nvim_get_current_win() then
      api.nvim_win_set_cursor(win, { #text, 0 })
    end
  end
end

local function render_now()
  render_scheduled = false
  local ids = dirty
  dirty = {}
  local win_exec = window_exec()
  local redraw_window = false
  for id in pairs(ids) do
    local exec = M.executions[id]
    if exec then
      draw(exec)
    end
    if win_exec and win_exec.id == id then
      redraw_window = true
    end
  end
  -- The window is rebuilt whole: only while it is on screen (opening it draws it).
  if (redraw_window or ids["\0window"]) and M.window.buf and vim.fn.bufwinid(M.window.buf) ~= -1 then
    draw_window()
  end
  M.schedule_images()
end

--- Marks an execution for redrawing (once per turn of the event loop, however much arrives).
local function touch(exec)
  dirty[exec and exec.id or "\0window"] = true
  if not render_scheduled then
    render_scheduled = true
    vim.schedule(render_now)
  end
end
M.touch = touch

---------------------------------------------------------------------------------------------
-- Protocol events

--- kernelbridge/cellState (protocol.md §5.6).
function M.on_cell_state(p)
  local exec = M.executions[p.executionId]
  if not exec then
    -- Normally its `queued` state; any other first state is tracked from there on.
    local bufnr = buf_for_uri(p.uri)
    if not bufnr then
      return
    end
    local count = api.nvim_buf_line_count(bufnr)
    local first = math.min(p.range.start.line, count - 1)
    local last = math.max(first, math.min(p.range["end"].line - 1, count - 1))
    -- A run replaces the output of earlier runs drawn within its lines.
    for _, id in ipairs(vim.deepcopy(M.order)) do
      local old = M.executions[id]
      if old and old.bufnr == bufnr then
        local row = mark_row(old, old.mark)
        if row and row >= first and row <= last then
          if M.window.exec_id == old.id then
            M.window.exec_id = p.executionId
          end
          remove(old)
        end
      end
    end
    exec = {
      id = p.executionId,
      kernel_id = p.kernelId,
      bufnr = bufnr,
      state = p.state,
      items = {},
    }
    -- Output goes right under the code: codeRange leaves out the cell's trailing blanks.
    local anchor = last
    if p.codeRange then
      anchor = math.max(first, math.min(p.codeRange["end"].line - 1, count - 1))
    end
    exec.start_mark = api.nvim_buf_set_extmark(bufnr, M.ns, first, 0, {})
    exec.mark = api.nvim_buf_set_extmark(bufnr, M.ns, anchor, 0, {})
    M.executions[exec.id] = exec
    M.order[#M.order + 1] = exec.id
    dirty["\0window"] = true
  end
  exec.state = p.state
  if p.state == "running" then
    exec.started = now()
  elseif p.state == "done" or p.state == "failed" then
    exec.ended = now()
    exec.count = p.executionCount
  end
  touch(exec)
end

local function new_item(exec, item)
  exec.items[#exec.items + 1] = item
  return item
end

--- kernelbridge/output (protocol.md §5.1).
function M.on_output(p)
  local content = p.content or {}
  if p.type == "update_display_data" then
    for _, ref in ipairs(M.displays[p.displayId] or {}) do
      if not ref.exec.removed then
        ref.item.content = content
        ref.item.lines = display_lines(content)
        touch(ref.exec)
      end
    end
    return
  end
  local exec = p.executionId and M.executions[p.executionId]
  if not exec then
    return -- output of an execution that is not drawn in a buffer (another client's)
  end
  if p.type == "stream" then
    local last = exec.items[#exec.items]
    if not (last and last.kind == "stream" and last.name == content.name) then
      last = new_item(exec, {
        kind = "stream",
        name = content.name,
        term = terminal.new(content.name == "stderr" and "KernelbridgeStderr" or nil),
      })
    end
    terminal.write(last.term, content.text or "")
  elseif p.type == "display_data" or p.type == "execute_result" then
    local item = new_item(exec, { kind = "display", content = content, lines = display_lines(content) })
    if p.displayId then
      item.display_id = p.displayId
      M.displays[p.displayId] = M.displays[p.displayId] or {}
      table.insert(M.displays[p.displayId], { exec = exec, item = item })
    end
  elseif p.type == "error" then
    local tb = content.traceback
    local text = (type(tb) == "table" and #tb > 0) and table.concat(tb, "\n")
      or string.format("%s: %s", content.ename or "Error", content.evalue or "")
    new_item(exec, { kind = "error", lines = terminal.lines(text, "KernelbridgeOutput") })
  elseif p.type == "clear_output" then
    exec.items = {}
  elseif p.type == "truncated" then
    new_item(exec, { kind = "note", lines = { { { "[" .. (content.message or "output truncated") .. "]", "KernelbridgeNote" } } } })
  end
  touch(exec)
end

--- Marks the executions of a kernel that can no longer finish (the daemon died).
function M.fail_unfinished(kernel_id)
  for _, exec in pairs(M.executions) do
    if (kernel_id == nil or exec.kernel_id == kernel_id) and (exec.state == "queued" or exec.state == "running") then
      exec.state = exec.state == "queued" and "skipped" or "failed"
      touch(exec)
    end
  end
end

---------------------------------------------------------------------------------------------
-- User actions

--- The execution drawn at a line of a buffer (the newest whose code or output anchor covers it).
function M.exec_at(bufnr, row)
  for i = #M.order, 1, -1 do
    local exec = M.executions[M.order[i]]
    if exec and exec.bufnr == bufnr then
      local first, last = M.exec_lines(exec)
      if first and last and row >= first and row <= last then
        return exec
      end
    end
  end
  return nil
end

--- Removes the output drawn in a buffer (all of it, or that of the lines first..last).
function M.clear(bufnr, first, last)
  for _, id in ipairs(vim.deepcopy(M.order)) do
    local exec = M.executions[id]
    if exec and exec.bufnr == bufnr then
      local row = mark_row(exec, exec.mark)
      if first == nil or (row and row >= first and row <= last) then
        remove(exec)
      end
    end
  end
  touch(nil)
end

--- Opens (or focuses) the output window, showing the output of the cell at the cursor, or the
--- newest output (following new runs) when the cursor is on no output.
function M.open_window()
  local buf = api.nvim_get_current_buf()
  local w = M.window
  if buf ~= w.buf then
    local row = api.nvim_win_get_cursor(0)[1] - 1
    local exec = M.exec_at(buf, row)
    w.exec_id = exec and exec.id or nil
    w.follow = exec == nil
  end
  if w.buf and api.nvim_buf_is_valid(w.buf) and not api.nvim_buf_is_loaded(w.buf) then
    pcall(api.nvim_buf_delete, w.buf, { force = true }) -- :bdelete'd: make a new one
  end
  if not (w.buf and api.nvim_buf_is_valid(w.buf)) then
    w.buf = api.nvim_create_buf(false, true)
    api.nvim_buf_set_name(w.buf, "kernelbridge://output")
    vim.bo[w.buf].bufhidden = "hide"
    vim.bo[w.buf].filetype = "kernelbridge_output"
    vim.keymap.set("n", "q", "<cmd>close<cr>", { buffer = w.buf, desc = "Close the output window" })
  end
  local win
  for _, wid in ipairs(api.nvim_tabpage_list_wins(0)) do
    if api.nvim_win_get_buf(wid) == w.buf then
      win = wid
    end
  end
  draw_window()
  if not win then
    vim.cmd("botright " .. config.options.output.window_height .. "split")
    win = api.nvim_get_current_win()
    api.nvim_win_set_buf(win, w.buf)
    vim.wo[win].wrap = false
    vim.wo[win].number = false
    vim.wo[win].relativenumber = false
    vim.wo[win].signcolumn = "no"
  else
    api.nvim_set_current_win(win)
  end
  M.schedule_images()
  return win
end

--- Forgets the outputs of a buffer that is wiped out.
function M.forget_buffer(bufnr)
  for _, id in ipairs(vim.deepcopy(M.order)) do
    local exec = M.executions[id]
    if exec and exec.bufnr == bufnr then
      remove(exec)
    end
  end
  M.schedule_images()
end

return M
