-- ANSI SGR colours (as in IPython tracebacks and coloured stream text) to highlight groups.
--
-- The 16 basic colours are the groups KernelbridgeAnsi<Name> (Black, Red, Green, Yellow, Blue,
-- Magenta, Cyan, White and Bright<Name>), defined with `default` so a colour scheme or the user
-- can override them. Bold/italic/underline and background combinations get groups of their own,
-- made on first use from those base groups (KernelbridgeAnsiRedBold, KernelbridgeAnsiOnBlue, ...).
local M = {}

local api = vim.api

M.names = {
  "Black", "Red", "Green", "Yellow", "Blue", "Magenta", "Cyan", "White",
  "BrightBlack", "BrightRed", "BrightGreen", "BrightYellow",
  "BrightBlue", "BrightMagenta", "BrightCyan", "BrightWhite",
}

-- Used when the colour scheme sets no g:terminal_color_N.
local palette = {
  "#1d1f21", "#cc6666", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#c5c8c6",
  "#7f848e", "#ef7a7a", "#b5e08c", "#f0d28c", "#82c0ff", "#da9ef0", "#7fd4de", "#ffffff",
}

--- Hex colour of xterm 256-colour index n.
local function xterm(n)
  if n < 16 then
    return vim.g["terminal_color_" .. n] or palette[n + 1]
  elseif n < 232 then
    n = n - 16
    local steps = { 0, 95, 135, 175, 215, 255 }
    local r, g, b = math.floor(n / 36), math.floor(n / 6) % 6, n % 6
    return string.format("#%02x%02x%02x", steps[r + 1], steps[g + 1], steps[b + 1])
  else
    local v = 8 + (n - 232) * 10
    return string.format("#%02x%02x%02x", v, v, v)
  end
end

local defined = {} -- group name -> definition (re-applied after :colorscheme)

local function set_hl(name, def)
  defined[name] = def
  api.nvim_set_hl(0, name, def)
end

--- Defines the plugin's fixed highlight groups (all `default`: a colour scheme wins).
function M.setup_highlights()
  for i, name in ipairs(M.names) do
    local n = i - 1
    api.nvim_set_hl(0, "KernelbridgeAnsi" .. name, { fg = xterm(n), ctermfg = n, default = true })
  end
  local links = {
    KernelbridgeOutput = "Normal",
    KernelbridgeBorder = "Comment",
    KernelbridgeStderr = "WarningMsg",
    KernelbridgeImage = "Directory",
    KernelbridgeNote = "Comment",
    KernelbridgeQueued = "Comment",
    KernelbridgeRunning = "DiagnosticWarn",
    KernelbridgeDone = "DiagnosticInfo",
    KernelbridgeFailed = "DiagnosticError",
    KernelbridgeSkipped = "Comment",
  }
  for name, target in pairs(links) do
    api.nvim_set_hl(0, name, { link = target, default = true })
  end
  -- :colorscheme clears every group; put back the combined ones in use.
  for name, def in pairs(defined) do
    api.nvim_set_hl(0, name, def)
  end
end

--- A fresh SGR state (terminal defaults).
function M.state()
  return {}
end

--- Applies the parameters of one `ESC [ ... m` sequence to an SGR state.
---@param st table
---@param params string e.g. "1;31", "38;5;208", "" (reset)
function M.apply(st, params)
  local codes = {}
  for p in (params .. ";"):gmatch("([^;:]*)[;:]") do
    codes[#codes + 1] = tonumber(p) or 0
  end
  local i = 1
  while i <= #codes do
    local c = codes[i]
    if c == 0 then
      for k in pairs(st) do
        st[k] = nil
      end
    elseif c == 1 then
      st.bold = true
    elseif c == 3 then
      st.italic = true
    elseif c == 4 then
      st.underline = true
    elseif c == 7 then
      st.reverse = true
    elseif c == 22 then
      st.bold = nil
    elseif c == 23 then
      st.italic = nil
    elseif c == 24 then
      st.underline = nil
    elseif c == 27 then
      st.reverse = nil
    elseif c >= 30 and c <= 37 then
      st.fg = c - 30
    elseif c >= 90 and c <= 97 then
      st.fg = c - 90 + 8
    elseif c >= 40 and c <= 47 then
      st.bg = c - 40
    elseif c >= 100 and c <= 107 then
      st.bg = c - 100 + 8
    elseif c == 39 then
      st.fg = nil
    elseif c == 49 then
      st.bg = nil
    elseif (c == 38 or c == 48) and codes[i + 1] == 5 and codes[i + 2] then
      st[c == 38 and "fg" or "bg"] = codes[i + 2] % 256
      i = i + 2
    elseif (c == 38 or c == 48) and codes[i + 1] == 2 and codes[i + 4] then
      st[c == 38 and "fg" or "bg"] =
        string.format("#%02x%02x%02x", codes[i + 2] % 256, codes[i + 3] % 256, codes[i + 4] % 256)
      i = i + 4
    end
    i = i + 1
  end
end

local function colour_name(v)
  if type(v) == "string" then
    return "X" .. v:sub(2)
  elseif v < 16 then
    return M.names[v + 1]
  end
  return "C" .. v
end

local function base_attrs(v)
  -- fg/ctermfg of a colour: a basic one is read from its (possibly overridden) group.
  if type(v) == "string" then
    return v, nil
  elseif v < 16 then
    local name = "KernelbridgeAnsi" .. M.names[v + 1]
    local fg
    if api.nvim_get_hl then -- 0.9+
      local ok, hl = pcall(api.nvim_get_hl, 0, { name = name, link = false })
      fg = ok and hl.fg
    else
      local ok, hl = pcall(api.nvim_get_hl_by_name, name, true)
      fg = ok and hl.foreground
    end
    local gui = fg and string.format("#%06x", fg) or xterm(v)
    return gui, v
  end
  return xterm(v), v
end

--- The highlight group of an SGR state, or nil for the default colours.
---@param st table
---@return string|nil
function M.group(st)
  if not (st.fg or st.bg or st.bold or st.italic or st.underline or st.reverse) then
    return nil
  end
  if st.fg and type(st.fg) == "number" and st.fg < 16
    and not (st.bg or st.bold or st.italic or st.underline or st.reverse) then
    return "KernelbridgeAnsi" .. M.names[st.fg + 1]
  end
  local name = "KernelbridgeAnsi"
    .. (st.fg and colour_name(st.fg) or "")
    .. (st.bg and ("On" .. colour_name(st.bg)) or "")
    .. (st.bold and "Bold" or "")
    .. (st.italic and "Italic" or "")
    .. (st.underline and "Underline" or "")
    .. (st.reverse and "Reverse" or "")
  if not defined[name] then
    local def = { bold = st.bold, italic = st.italic, underline = st.underline, reverse = st.reverse }
    if st.fg then
      def.fg, def.ctermfg = base_attrs(st.fg)
    end
    if st.bg then
      def.bg, def.ctermbg = base_attrs(st.bg)
    end
    set_hl(name, def)
  end
  return name
end

--- Removes ANSI escape sequences.
---@param s string
---@return string
function M.strip(s)
  return (s:gsub("\27%[[0-9;:?]*[ -/]*[@-~]", ""):gsub("\27%][^\7\27]*\7", ""))
end

return M
