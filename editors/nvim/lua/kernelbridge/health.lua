-- :checkhealth kernelbridge
local M = {}

function M.check()
  local compat = require("kernelbridge.compat")
  local h = compat.health()
  local config = require("kernelbridge.config")
  local kb = require("kernelbridge")

  h.start("kernelbridge: Neovim and setup")
  local v = vim.version()
  local version = string.format("%d.%d.%d", v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.7") == 1 then
    h.ok("Neovim " .. version)
  else
    h.error("Neovim " .. version .. " is too old: 0.7 or later is needed")
  end
  if kb.did_setup then
    h.ok("setup() was called; filetypes: " .. table.concat(config.options.filetypes, ", "))
  else
    h.warn('setup() was not called', { 'Add require("kernelbridge").setup({}) to your config' })
  end

  h.start("kernelbridge: daemon")
  local cmd = config.options.cmd
  local exe = vim.fn.exepath(cmd[1])
  if exe ~= "" then
    h.ok(string.format("command: %s (%s)", table.concat(cmd, " "), exe))
  else
    h.error(string.format("%q is not executable", cmd[1]), {
      "pip install kernelbridge (in the environment whose kernels you want), or",
      'set cmd = { "/path/to/venv/bin/kernelbridge", "--stdio" } in setup()',
    })
  end
  local client = kb.get_client()
  if not client then
    local client_mod = require("kernelbridge.client")
    if client_mod.last_exit then
      h.warn(string.format(
        "the daemon is not running; it last exited with code %s, signal %s",
        tostring(client_mod.last_exit.code),
        tostring(client_mod.last_exit.signal)
      ))
    else
      h.info("the daemon is not running (it starts with the first buffer of a configured filetype)")
    end
    return
  end
  local info = client.server_info
  h.ok(string.format(
    "daemon running (client id %d%s)",
    client.id,
    info and info.version and (", kernelbridge " .. info.version) or ""
  ))
  local specs = compat.request_sync(client, "kernelbridge/kernelspecs", vim.empty_dict(), 5000)
  if specs and specs.result then
    if #specs.result == 0 then
      h.warn("no Jupyter kernelspec installed", { "pip install ipykernel" })
    end
    for _, s in ipairs(specs.result) do
      h.ok(string.format("kernelspec %s: %s (%s)", s.name, s.displayName, s.language))
    end
  else
    h.error("kernelbridge/kernelspecs failed: " .. vim.inspect(specs and specs.err))
  end
  local ks = compat.request_sync(client, "kernelbridge/kernels", vim.empty_dict(), 5000)
  if ks and ks.result then
    if #ks.result == 0 then
      h.info("no kernel running")
    end
    for _, k in ipairs(ks.result) do
      local docs = #k.documents > 0 and (" for " .. table.concat(k.documents, ", ")) or ""
      h.info(string.format("kernel %s (%s): %s%s", k.kernelId:sub(1, 8), k.displayName, k.state, docs))
    end
  end
end

return M
