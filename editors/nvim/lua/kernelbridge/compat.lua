-- Differences between Neovim 0.7 and current versions, in one place.
local M = {}

M.has_08 = vim.fn.has("nvim-0.8") == 1
M.has_011 = vim.fn.has("nvim-0.11") == 1

--- client:request() (0.11 method syntax; 0.7 only has client.request()).
function M.request(client, method, params, handler, bufnr)
  if M.has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.request_sync(client, method, params, timeout_ms, bufnr)
  if M.has_011 then
    return client:request_sync(method, params, timeout_ms, bufnr)
  end
  return client.request_sync(method, params, timeout_ms, bufnr)
end

function M.notify(client, method, params)
  if M.has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.is_stopped(client)
  if M.has_011 then
    return client:is_stopped()
  end
  return client.is_stopped()
end

function M.stop(client, force)
  if M.has_011 then
    return client:stop(force)
  end
  return client.stop(force)
end

--- Clients of a name (get_clients from 0.10, get_active_clients before).
function M.get_clients(name)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  return get({ name = name })
end

--- :checkhealth reporting: vim.health.start/ok/... from 0.10, vim.health.report_* on 0.8-0.9,
--- require("health").report_* on 0.7.
function M.health()
  local h = vim.health
  if not (h and (h.start or h.report_start)) then
    h = require("health")
  end
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    info = h.info or h.report_info,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
  }
end

--- Code lenses of a buffer (the bufnr argument shape changed in 0.10).
function M.codelens_refresh(bufnr)
  if vim.fn.has("nvim-0.10") == 1 then
    vim.lsp.codelens.refresh({ bufnr = bufnr })
  elseif bufnr == vim.api.nvim_get_current_buf() then
    vim.lsp.codelens.refresh()
  end
end

return M
