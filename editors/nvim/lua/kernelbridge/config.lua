-- Options: defaults and the merge of the user's setup() table.
local M = {}

---@type kernelbridge.Options
M.defaults = {
  cmd = { "kernelbridge", "--stdio" },
  filetypes = { "python" },
  init_options = {
    output = {
      -- What this plugin can draw, best first: images as files (the daemon writes them and
      -- sends their paths), else plain text. Every other representation is left out.
      mimeTypes = { "image/png", "image/jpeg", "image/svg+xml", "text/plain" },
    },
  },
  capabilities = {},
  output = {
    virtual_lines = true,
    max_lines = 30,
    max_width = 200,
    window_height = 12,
    images = "auto",
    image_rows = 12,
  },
  codelens = false,
  on_attach = nil,
  notify = true,
}

---@type kernelbridge.Options
M.options = vim.deepcopy(M.defaults)

-- A non-empty array (an empty table counts as a map, so it merges).
local function is_list(t)
  if type(t) ~= "table" or next(t) == nil then
    return false
  end
  local islist = vim.islist or vim.tbl_islist
  return islist(t)
end

M.is_list = is_list

--- Deep-merges `opts` over the defaults. Lists (cmd, filetypes, mimeTypes) are replaced whole.
---@param opts? kernelbridge.Options
---@return kernelbridge.Options
function M.set(opts)
  opts = opts or {}
  local types = {
    cmd = "table",
    filetypes = "table",
    init_options = "table",
    capabilities = "table",
    output = "table",
    codelens = "boolean",
    on_attach = "function",
    notify = "boolean",
  }
  for key, value in pairs(opts) do
    if types[key] == nil then
      error(string.format("kernelbridge.setup: unknown option %q", tostring(key)), 3)
    elseif type(value) ~= types[key] then
      error(string.format("kernelbridge.setup: %s must be a %s, not a %s", key, types[key], type(value)), 3)
    end
  end
  local images = opts.output and opts.output.images
  if images ~= nil and images ~= "auto" and images ~= "kitty" and images ~= "path" then
    error(string.format("kernelbridge.setup: output.images must be \"auto\", \"kitty\" or \"path\", not %s", vim.inspect(images)), 3)
  end
  if opts.cmd and (type(opts.cmd[1]) ~= "string" or opts.cmd[1] == "") then
    error("kernelbridge.setup: cmd must be a list of strings, e.g. { \"kernelbridge\", \"--stdio\" }", 3)
  end
  local function merge(base, over)
    if type(base) ~= "table" or type(over) ~= "table" or is_list(over) or is_list(base) then
      return vim.deepcopy(over)
    end
    local out = vim.deepcopy(base)
    for k, v in pairs(over) do
      if out[k] ~= nil then
        out[k] = merge(out[k], v)
      else
        out[k] = vim.deepcopy(v)
      end
    end
    return out
  end
  M.options = merge(M.defaults, opts)
  return M.options
end

return M
