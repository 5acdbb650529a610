-- The kitty graphics protocol (https://sw.kovidgoyal.net/kitty/graphics-protocol/), the pure
-- parts: building escape sequences, sizing, and deciding from the environment whether the
-- terminal speaks it. Nothing here writes to the terminal (output.lua does).
local M = {}

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Standard base64 (with padding) of a string. Pure Lua: LuaJIT has no bit ops in 5.1 syntax.
---@param s string
---@return string
function M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1)
      .. b64chars:sub(c2 + 1, c2 + 1)
      .. (b and b64chars:sub(c3 + 1, c3 + 1) or "=")
      .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

--- Transmit a PNG file by its path and place it (a=T, t=f), `cols` x `rows` cells, at the
--- cursor, without moving the cursor (C=1), with no answer from the terminal (q=2).
---@param id integer image id (1..2^32-1)
---@param path string absolute path of a PNG file
---@param cols integer
---@param rows integer
---@return string
function M.transmit_place(id, path, cols, rows)
  return string.format("\27_Ga=T,f=100,t=f,q=2,C=1,i=%d,c=%d,r=%d;%s\27\\", id, cols, rows, M.base64(path))
end

--- Delete the placements of an image and free its data (a=d, d=I).
---@param id integer
---@return string
function M.delete(id)
  return string.format("\27_Ga=d,d=I,i=%d,q=2\27\\", id)
end

--- Save the cursor, move it to a screen cell (1-based), `seq`, restore the cursor.
---@param row integer
---@param col integer
---@param seq string
---@return string
function M.at(row, col, seq)
  return string.format("\0277\27[%d;%dH%s\0278", row, col, seq)
end

--- Whether the environment names a terminal with the kitty graphics protocol.
--- Under tmux/screen it is "path" (tmux does not pass the sequences through by default).
---@param getenv? fun(name: string): string|nil default os.getenv
---@return "kitty"|"path"
function M.detect(getenv)
  getenv = getenv or os.getenv
  local term = getenv("TERM") or ""
  if (getenv("TMUX") or "") ~= "" or term:find("^tmux") or term:find("^screen") then
    return "path"
  end
  if term == "xterm-kitty" or term == "xterm-ghostty" or term == "wezterm" then
    return "kitty"
  end
  if (getenv("KITTY_WINDOW_ID") or "") ~= "" then
    return "kitty"
  end
  local prog = (getenv("TERM_PROGRAM") or ""):lower()
  if prog == "kitty" or prog == "wezterm" or prog == "ghostty" then
    return "kitty"
  end
  return "path"
end

--- The mode to draw images with, from the `output.images` option.
---@param opt? "auto"|"kitty"|"path"
---@param getenv? fun(name: string): string|nil
---@return "kitty"|"path"
function M.mode(opt, getenv)
  if opt == "kitty" or opt == "path" then
    return opt
  end
  return M.detect(getenv)
end

--- Width and height in pixels of a PNG file (from its IHDR chunk), or nil.
---@param path string
---@return integer|nil, integer|nil
function M.png_size(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local head = f:read(24)
  f:close()
  if not head or #head < 24 or head:sub(1, 8) ~= "\137PNG\r\n\26\n" or head:sub(13, 16) ~= "IHDR" then
    return nil
  end
  local function u32(i)
    local a, b, c, d = head:byte(i, i + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
  end
  return u32(17), u32(21)
end

--- The cells an image takes: at most `max_rows` rows and `max_cols` columns, keeping the
--- aspect ratio (a cell is taken as twice as high as wide). Without a size, max_rows rows.
---@param w integer|nil pixels
---@param h integer|nil pixels
---@param max_rows integer
---@param max_cols integer
---@return integer cols, integer rows
function M.cells(w, h, max_rows, max_cols)
  max_rows = math.max(1, max_rows)
  max_cols = math.max(1, max_cols)
  if not (w and h and w > 0 and h > 0) then
    return math.min(max_cols, max_rows * 3), max_rows
  end
  local rows = max_rows
  local cols = math.max(1, math.floor(rows * 2 * w / h + 0.5))
  if cols > max_cols then
    cols = max_cols
    rows = math.max(1, math.floor(cols * h / (2 * w) + 0.5))
  end
  return cols, rows
end

return M
