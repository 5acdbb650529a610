-- Answers the daemon's kernelbridge/input requests (the kernel's input() and getpass(),
-- protocol.md §5.3).
--
-- Passwords are read with vim.fn.inputsecret (nothing is echoed). Other prompts use
-- vim.ui.input, so a UI plugin (dressing.nvim, snacks.nvim, ...) can draw them. On Neovim
-- 0.10+ the LSP client runs request handlers in a coroutine, so an asynchronous vim.ui.input
-- is waited for; on older versions the answer must be given before the handler returns, which
-- Neovim's built-in vim.ui.input does.
local M = {}

local function secret(prompt)
  local ok, value = pcall(vim.fn.inputsecret, prompt)
  return ok and value or "" -- <C-c> raises "Keyboard interrupt": answer an empty line
end

---@param params { kernelId: string, executionId: string, prompt: string, password: boolean }
---@return table result
function M.answer(params)
  local prompt = params.prompt or ""
  if params.password then
    return { value = secret(prompt) }
  end
  local co, is_main = coroutine.running()
  local can_wait = co ~= nil and not is_main
  local done, value, waiting = false, nil, false
  vim.ui.input({ prompt = prompt }, function(v)
    if done then
      return
    end
    done, value = true, v
    if waiting then
      waiting = false
      local ok, err = coroutine.resume(co)
      if not ok then
        vim.notify("kernelbridge: answering input failed: " .. tostring(err), vim.log.levels.ERROR)
      end
    end
  end)
  if not done then
    if not can_wait then
      vim.notify(
        "kernelbridge: this Neovim cannot wait for an asynchronous vim.ui.input; "
          .. "the kernel gets an empty line",
        vim.log.levels.WARN
      )
      done = true
      return { value = "" }
    end
    waiting = true
    coroutine.yield()
  end
  return { value = value or "" } -- cancelled (<Esc>): an empty line, as the daemon does on errors
end

return M
