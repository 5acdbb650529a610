---@meta
-- Type annotations (LuaCATS) for kernelbridge.nvim. Nothing here runs.
-- The wire types mirror protocol.md of the kernelbridge daemon.

---@class kernelbridge.Options
---@field cmd? string[] Command that starts the daemon. Default: { "kernelbridge", "--stdio" }.
---@field filetypes? string[] Filetypes whose buffers get the client. Default: { "python" }.
---@field init_options? table initializationOptions sent to the daemon (protocol.md §2.2), merged over the defaults.
---@field capabilities? table LSP client capabilities, merged over Neovim's own.
---@field output? kernelbridge.OutputOptions
---@field codelens? boolean Show the daemon's "Run cell" / "Run above" code lenses. Default: false.
---@field on_attach? fun(client: table, bufnr: integer) Called when the client attaches to a buffer.
---@field notify? boolean Show kernel start/stop messages with vim.notify. Errors and warnings are always shown. Default: true.

---@class kernelbridge.OutputOptions
---@field virtual_lines? boolean Draw output under the executed code. Default: true.
---@field max_lines? integer Most output lines drawn under a cell; the rest is in the output window. Default: 30.
---@field max_width? integer Lines longer than this are cut in virtual lines (not in the window). Default: 200.
---@field window_height? integer Height of the output window split. Default: 12.
---@field images? "auto"|"kitty"|"path" PNG images drawn in the terminal (kitty graphics protocol) or shown as their path. "auto": kitty in kitty, WezTerm and Ghostty (not under tmux). Default: "auto".
---@field image_rows? integer Most screen rows an image drawn with the kitty protocol takes. Default: 12.

---@class kernelbridge.Range
---@field start { line: integer, character: integer }
---@field ["end"] { line: integer, character: integer }

-- A kernel state, protocol.md §5.2.
---@alias kernelbridge.KernelState
---| "starting"
---| "idle"
---| "busy"
---| "unresponsive" # a kernel the daemon started stopped answering its heartbeat; its process lives
---| "restarting"
---| "dead"

---@class kernelbridge.Kernel  protocol.md §3.1 (only the fields the plugin reads)
---@field kernelId string
---@field kernelspec string
---@field displayName string
---@field language string
---@field state kernelbridge.KernelState
---@field owned boolean
---@field connectionFile string
---@field documents string[]

---@class kernelbridge.KernelSpec  protocol.md §3.2
---@field name string
---@field displayName string
---@field language string

---@class kernelbridge.Chunk  one highlighted piece of a line: { text, highlight group or nil }
---@field [1] string
---@field [2] string|nil

---@alias kernelbridge.Line kernelbridge.Chunk[]

---@class kernelbridge.OutputItem
---@field kind "stream"|"display"|"error"|"note"
---@field name? string stream name (stdout/stderr)
---@field term? kernelbridge.Terminal stream text with terminal semantics applied
---@field lines? kernelbridge.Line[] rendered lines (display, error, note)
---@field display_id? string
---@field content? table display content (for re-rendering on update_display_data)

---@class kernelbridge.Execution
---@field id string executionId
---@field kernel_id string
---@field bufnr integer
---@field mark? integer extmark id in the buffer
---@field state "queued"|"running"|"done"|"failed"|"skipped"
---@field count? integer executionCount
---@field started? number
---@field ended? number
---@field items kernelbridge.OutputItem[]
