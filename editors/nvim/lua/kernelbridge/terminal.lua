-- Text with terminal semantics, as protocol.md §5.1.1 asks clients to apply to the concatenated
-- text of a stream: `\r` moves the cursor to the start of the line and what follows overwrites it
-- character by character, `\b` moves back one character, `\n` ends the line. ANSI SGR sequences
-- set the colour of the characters written after them (see ansi.lua); other escape sequences are
-- dropped, except `ESC[K` (erase to the end of the line).
--
-- A Terminal keeps its text as lines of highlighted chunks, ready to draw.
local ansi = require("kernelbridge.ansi")

local M = {}

---@class kernelbridge.Terminal
---@field lines kernelbridge.Line[]
---@field col integer|nil cursor column (characters) in the last line; nil: at its end
---@field sgr table current SGR state
---@field pending string|nil an escape sequence cut at the end of the previous write
---@field default_hl string|nil highlight of uncoloured text

---@param default_hl? string
---@return kernelbridge.Terminal
function M.new(default_hl)
  return { lines = { {} }, col = nil, sgr = ansi.state(), pending = nil, default_hl = default_hl }
end

local CHAR = "[%z\1-\127\194-\244][\128-\191]*"

local function line_width(line)
  local n = 0
  for _, chunk in ipairs(line) do
    local _, count = chunk[1]:gsub(CHAR, "")
    n = n + count
  end
  return n
end

-- The line as an array of { char, hl } cells.
local function explode(line)
  local cells = {}
  for _, chunk in ipairs(line) do
    for ch in chunk[1]:gmatch(CHAR) do
      cells[#cells + 1] = { ch, chunk[2] }
    end
  end
  return cells
end

local function implode(cells)
  local line = {}
  for _, cell in ipairs(cells) do
    local last = line[#line]
    if last and last[2] == cell[2] then
      last[1] = last[1] .. cell[1]
    else
      line[#line + 1] = { cell[1], cell[2] }
    end
  end
  return line
end

local function append(line, text, hl)
  local last = line[#line]
  if last and last[2] == hl then
    last[1] = last[1] .. text
  else
    line[#line + 1] = { text, hl }
  end
end

-- Writes printable text (no control characters) at the cursor.
local function put(t, text)
  if text == "" then
    return
  end
  local hl = ansi.group(t.sgr) or t.default_hl
  local line = t.lines[#t.lines]
  if t.col == nil then
    append(line, text, hl)
    return
  end
  local cells = explode(line)
  local col = t.col
  for ch in text:gmatch(CHAR) do
    col = col + 1
    cells[col] = { ch, hl }
  end
  t.lines[#t.lines] = implode(cells)
  t.col = col < #cells and col or nil
end

local function erase_to_end(t)
  local line = t.lines[#t.lines]
  if t.col == nil then
    return
  end
  local cells = explode(line)
  for i = #cells, t.col + 1, -1 do
    cells[i] = nil
  end
  t.lines[#t.lines] = implode(cells)
  t.col = nil
end

--- Appends stream text.
---@param t kernelbridge.Terminal
---@param text string
function M.write(t, text)
  if t.pending then
    text = t.pending .. text
    t.pending = nil
  end
  local i, n = 1, #text
  while i <= n do
    local s = text:find("[\r\n\b\27\t]", i)
    if not s then
      put(t, text:sub(i))
      break
    end
    if s > i then
      put(t, text:sub(i, s - 1))
    end
    local c = text:byte(s)
    local next_i = s + 1
    if c == 10 then -- \n
      t.lines[#t.lines + 1] = {}
      t.col = nil
    elseif c == 13 then -- \r
      t.col = 0
      if line_width(t.lines[#t.lines]) == 0 then
        t.col = nil
      end
    elseif c == 8 then -- \b
      local col = t.col or line_width(t.lines[#t.lines])
      t.col = math.max(0, col - 1)
    elseif c == 9 then -- \t: to the next multiple of 8
      local col = t.col or line_width(t.lines[#t.lines])
      put(t, string.rep(" ", 8 - col % 8))
    else -- ESC
      local _, e, params, final = text:find("^%[([0-9;:?]*)[ -/]*([@-~])", s + 1)
      if e then
        if final == "m" then
          ansi.apply(t.sgr, params)
        elseif final == "K" and (params == "" or params == "0") then
          erase_to_end(t)
        end
        next_i = e + 1
      else
        local _, oe = text:find("^%][^\7\27]*\7", s + 1) -- OSC ... BEL
        if not oe then
          _, oe = text:find("^%][^\7\27]*\27\\", s + 1) -- OSC ... ST
        end
        if oe then
          next_i = oe + 1
        elseif n - s < 64 and not text:find("[@-~]", s + 2) then
          -- Cut in the middle: keep it for the next write.
          t.pending = text:sub(s)
          break
        else
          next_i = s + 2 -- a two-character escape: drop it
        end
      end
    end
    i = next_i
  end
end

--- Number of lines to draw (a last, empty line after a final newline is not drawn).
---@param t kernelbridge.Terminal
function M.height(t)
  local n = #t.lines
  if n > 0 and #t.lines[n] == 0 then
    n = n - 1
  end
  return n
end

--- The plain text (no highlights) of the drawn lines.
---@param t kernelbridge.Terminal
---@return string[]
function M.text(t)
  local out = {}
  for i = 1, M.height(t) do
    local parts = {}
    for _, chunk in ipairs(t.lines[i]) do
      parts[#parts + 1] = chunk[1]
    end
    out[i] = table.concat(parts)
  end
  return out
end

--- Renders a whole text (no stream semantics needed, e.g. a traceback) to lines.
---@param text string
---@param default_hl? string
---@return kernelbridge.Line[]
function M.lines(text, default_hl)
  local t = M.new(default_hl)
  M.write(t, text)
  local out = {}
  for i = 1, M.height(t) do
    out[i] = t.lines[i]
  end
  return out
end

return M
