-- What the plugin knows about kernels: their state (from kernelbridge/status) and which kernel
-- each buffer runs on (learnt from start/connect results and cell runs; the daemon owns the
-- binding, this is a mirror for the statusline and for interrupt/restart/shutdown).
local M = {}

---@type table<string, kernelbridge.Kernel|{ kernelId: string, state: string, expect_dead?: boolean }>
M.kernels = {}
---@type table<integer, string> bufnr -> kernelId
M.buffers = {}

local function notify(msg, level)
  vim.notify("kernelbridge: " .. msg, level or vim.log.levels.INFO)
end

local function info(msg)
  if require("kernelbridge.config").options.notify then
    notify(msg)
  end
end
M.info = info
M.notify = notify

local function changed()
  pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "KernelbridgeStatus", modeline = false })
  pcall(vim.cmd, "redrawstatus!")
end

--- A short name for messages: "Python 3 (ipykernel)" or the id's start.
function M.label(kernel_id)
  local k = M.kernels[kernel_id]
  local name = k and (k.displayName ~= "" and k.displayName or k.kernelspec)
  if name and name ~= "" then
    return string.format("%s [%s]", name, kernel_id:sub(1, 8))
  end
  return kernel_id:sub(1, 8)
end

---@param k kernelbridge.Kernel
function M.update(k)
  local known = M.kernels[k.kernelId] or {}
  for key, v in pairs(k) do
    known[key] = v
  end
  M.kernels[k.kernelId] = known
  changed()
end

function M.bind(bufnr, kernel_id)
  if kernel_id and kernel_id ~= vim.NIL and M.buffers[bufnr] ~= kernel_id then
    M.buffers[bufnr] = kernel_id
    M.kernels[kernel_id] = M.kernels[kernel_id] or { kernelId = kernel_id, state = "idle" }
    changed()
  end
end

function M.for_buffer(bufnr)
  local id = M.buffers[bufnr]
  if id and M.kernels[id] then
    return id
  end
  return nil
end

--- The kernel was shut down on our request: forget it.
function M.forget(kernel_id)
  M.kernels[kernel_id] = nil
  for b, id in pairs(M.buffers) do
    if id == kernel_id then
      M.buffers[b] = nil
    end
  end
  changed()
end

--- kernelbridge/status (protocol.md §5.2).
function M.on_status(p)
  local k = M.kernels[p.kernelId]
  if not k then
    k = { kernelId = p.kernelId }
    M.kernels[p.kernelId] = k
  end
  local before = k.state
  k.state = p.state
  if p.state == "dead" and before ~= "dead" then
    if k.expect_dead then
      if k.owned == false then
        info("disconnected from kernel " .. M.label(p.kernelId) .. " (it keeps running)")
      else
        info("kernel " .. M.label(p.kernelId) .. " shut down")
      end
    elseif before ~= "starting" then
      -- (A failed start is reported by the start request's error.)
      local how = k.owned == false
          and "stopped answering. It was started elsewhere: restart it there, then :KernelbridgeConnect."
        or "died. :KernelbridgeRestart starts it again (its variables are lost)."
      notify("kernel " .. M.label(p.kernelId) .. " " .. how, vim.log.levels.ERROR)
    end
  elseif p.state == "unresponsive" and before ~= "unresponsive" then
    notify(
      "kernel " .. M.label(p.kernelId) .. " is unresponsive: "
        .. (p.reason or "it stopped answering its heartbeat")
        .. ". Requests wait for it; :KernelbridgeRestart kills and restarts it.",
      vim.log.levels.WARN
    )
  elseif before == "unresponsive" and (p.state == "busy" or p.state == "idle") then
    -- Always shown (not subject to options.notify): it ends the warning above.
    notify("kernel " .. M.label(p.kernelId) .. " answers again (" .. p.state .. ")", vim.log.levels.INFO)
  end
  changed()
end

--- The daemon exited: every kernel it knew is gone for this Neovim.
function M.all_dead()
  for _, k in pairs(M.kernels) do
    k.state = "dead"
  end
  changed()
end

return M
