-- Completion, hover and code lenses through Neovim's LSP client, next to another language
-- server on the same buffer.
local H = dofile(os.getenv("KB_NVIM_ROOT") .. "/tests/harness.lua")
local api = vim.api

H.capture_notify()

-- The user's other language server, started the way a config would, before kernelbridge.
local other_cmd = { "python3", H.root .. "/tests/other_lsp.py" }
local other_id
api.nvim_create_autocmd("FileType", {
  pattern = "python",
  callback = function(args)
    if vim.lsp.start then
      vim.lsp.start({ name = "other", cmd = other_cmd, root_dir = H.tmp }, { bufnr = args.buf })
    else
      other_id = other_id or vim.lsp.start_client({ name = "other", cmd = other_cmd, root_dir = H.tmp })
      vim.lsp.buf_attach_client(args.buf, other_id)
    end
  end,
})

local kb = require("kernelbridge")
-- IPython's first completion loads jedi, which takes seconds with a cold cache (a fresh HOME):
-- more than the daemon's default requestTimeout of 10 s on a slow machine.
kb.setup({
  cmd = H.cmd(),
  codelens = true,
  init_options = { requestTimeout = 60, output = { maxCharsPerExecution = 3000 } },
})

local buf

local function client_named(name)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  return get({ name = name })[1]
end

H.test("kernelbridge attaches next to another language server", function()
  buf = H.open("lsp.py", {
    "import os", -- 1
    "my_variable_xyz = 1", -- 2
    "os.pa", -- 3
    "my_var", -- 4
    "len", -- 5
    "# %%", -- 6
    "print('lens')", -- 7
    "# %%", -- 8
    "for i in range(1000): print('x' * 20, i)", -- 9
  })
  H.wait(10000, function()
    local other = client_named("other")
    return other and vim.lsp.buf_is_attached(buf, other.id)
  end, "the other server attached")
  H.ok(vim.lsp.buf_is_attached(buf, kb.get_client().id), "kernelbridge attached too")
  H.start_kernel()
  H.run_at(0, function()
    vim.cmd("1,2KernelbridgeRunRange")
  end)
end)

local function complete(line, character)
  local t0 = (vim.uv or vim.loop).hrtime()
  local res = vim.lsp.buf_request_sync(buf, "textDocument/completion", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = line, character = character },
  }, 60000)
  io.stderr:write(string.format("    completion took %.0f ms\n", ((vim.uv or vim.loop).hrtime() - t0) / 1e6))
  local labels = {}
  for client_id, r in pairs(res or {}) do
    local name = vim.lsp.get_client_by_id(client_id).name
    local items = r.result and (r.result.items or r.result) or {}
    labels[name] = {}
    for _, item in ipairs(items) do
      table.insert(labels[name], item.label)
    end
  end
  return labels
end

H.test("completion comes from the kernel (its live variables) through the LSP client", function()
  local labels = complete(2, 5) -- os.pa|
  H.ok(vim.tbl_contains(labels.kernelbridge or {}, "path"), "os.path offered: " .. vim.inspect(labels))
  H.ok(vim.tbl_contains(labels.other or {}, "from_the_other_server"), "the other server still answers")
  labels = complete(3, 6) -- my_var|
  H.ok(vim.tbl_contains(labels.kernelbridge or {}, "my_variable_xyz"), "a variable defined by running code")
end)

H.test("hover shows the kernel's inspection in a floating window", function()
  local res = vim.lsp.buf_request_sync(buf, "textDocument/hover", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = 4, character = 1 },
  }, 10000)
  local value
  for _, r in pairs(res or {}) do
    value = value or (r.result and r.result.contents and r.result.contents.value)
  end
  H.ok(value and value:find("Return the number of items", 1, true), "hover text: " .. tostring(value))
  H.cursor(5)
  vim.lsp.buf.hover()
  H.wait(10000, function()
    for _, win in ipairs(api.nvim_list_wins()) do
      if api.nvim_win_get_config(win).relative ~= "" then
        local text = table.concat(api.nvim_buf_get_lines(api.nvim_win_get_buf(win), 0, -1, false), "\n")
        if text:find("Return the number of items", 1, true) then
          return true
        end
      end
    end
  end, "a hover window with len's docstring")
  -- Close the float.
  for _, win in ipairs(api.nvim_list_wins()) do
    if api.nvim_win_get_config(win).relative ~= "" then
      api.nvim_win_close(win, true)
    end
  end
end)

H.test("code lenses from the daemon, and running one", function()
  H.wait(10000, function()
    local lenses = vim.lsp.codelens.get(buf)
    for _, l in ipairs(lenses or {}) do
      if l.command and l.command.title == "Run cell" and l.range.start.line == 5 then
        return true
      end
    end
  end, "a 'Run cell' lens on the # %% line")
  H.cursor(6)
  -- vim.lsp.codelens.run() asks vim.ui.select when a line has several lenses; take "Run cell".
  local orig = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    for _, item in ipairs(items) do
      local title = (item.command and item.command.title) or (opts.format_item and opts.format_item(item)) or ""
      if title:find("Run cell", 1, true) then
        return on_choice(item)
      end
    end
    on_choice(items[1])
  end
  vim.lsp.codelens.run()
  vim.ui.select = orig
  H.wait_virt("│ lens")
end)

H.test("initializationOptions reach the daemon: output truncated after maxCharsPerExecution", function()
  H.run_cell(9)
  H.wait_virt("kernelbridge/outputText has all of it")
  local lines = H.virt_lines(buf)
  H.ok(not H.contains(lines, "x 999"), "the end of the output was not sent")
end)

H.run()
