// The parts of the kernelbridge wire contract (protocol.md at the repository root) this
// extension uses. Field names and meanings are the protocol's; see the section given on each.

/** A Range or Position as LSP sends them (0-based lines). */
export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}

/** §5.2. `unresponsive`: a started kernel whose heartbeat stopped while its process lives. */
export type KernelState = 'starting' | 'idle' | 'busy' | 'unresponsive' | 'restarting' | 'dead';

/** §3.1. The kernel_info fields are there too; only the daemon's fields are typed. */
export interface Kernel {
  kernelId: string;
  kernelspec: string;
  displayName: string;
  language: string;
  state: KernelState;
  owned: boolean;
  connectionFile: string;
  pid: number | null;
  documents: string[];
  implementation?: string;
  language_info?: { name?: string; version?: string };
}

/** §3.2 */
export interface KernelSpec {
  name: string;
  displayName: string;
  language: string;
  interruptMode: 'signal' | 'message';
  path: string;
}

/** §5.2 */
export interface StatusParams {
  kernelId: string;
  state: KernelState;
  executionId?: string;
  reason?: string;
  exitCode?: number;
}

export type MimeBundle = Record<string, unknown>;

/** §5.1 */
export interface OutputParams {
  kernelId: string;
  executionId?: string;
  outputId?: string;
  displayId?: string;
  seq: number;
  type:
    | 'stream'
    | 'display_data'
    | 'update_display_data'
    | 'execute_result'
    | 'error'
    | 'clear_output'
    | 'truncated';
  content: OutputContent;
}

export interface StreamContent {
  name: string;
  text: string;
}
export interface DisplayContent {
  data: MimeBundle;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  /** MIME type → absolute path of the image file the daemon wrote (§5.1.2). */
  files?: Record<string, string>;
}
export interface ErrorContent {
  ename: string;
  evalue: string;
  traceback: string[];
}
export interface TruncatedContent {
  name: string;
  limit: number;
  message: string;
}
export type OutputContent =
  | StreamContent
  | DisplayContent
  | ErrorContent
  | TruncatedContent
  | { wait: boolean };

export type CellStateName = 'queued' | 'running' | 'done' | 'failed' | 'skipped';

/** §5.6 */
export interface CellStateParams {
  uri: string;
  range: Range;
  codeRange?: Range;
  executionId: string;
  kernelId: string;
  state: CellStateName;
  executionCount?: number;
}

/** §5.3: the daemon's one request to the client. */
export interface InputParams {
  kernelId: string;
  executionId: string;
  prompt: string;
  password: boolean;
}

/** §4.17: result of executeCell / executeRange. */
export interface CellRunResult {
  kernelId: string | null;
  executionId: string | null;
  status: 'ok' | 'error' | 'aborted' | 'skipped';
  executionCount: number | null;
  error?: { ename: string; evalue: string; traceback: string[] };
  range: Range;
  codeRange: Range;
}

/** §4.17: result of runAbove / runAll. */
export interface MultiRunResult {
  kernelId: string | null;
  cells: Array<Omit<CellRunResult, 'kernelId'>>;
}

/** §4.10b */
export type OutputTextResult = Array<{ name: string; text: string }>;

/** §6: error codes the extension reacts to. */
export const ErrorCodes = {
  RequestCancelled: -32800,
  UnknownKernel: 1001,
  KernelDead: 1002,
  KernelRestarted: 1004,
  NotOwner: 1007,
  NoKernelForDocument: 1008,
} as const;

/** Method names (§4, §5). */
export const Methods = {
  kernelspecs: 'kernelbridge/kernelspecs',
  start: 'kernelbridge/start',
  connect: 'kernelbridge/connect',
  kernels: 'kernelbridge/kernels',
  bind: 'kernelbridge/bind',
  interrupt: 'kernelbridge/interrupt',
  restart: 'kernelbridge/restart',
  shutdown: 'kernelbridge/shutdown',
  executeCell: 'kernelbridge/executeCell',
  executeRange: 'kernelbridge/executeRange',
  runAbove: 'kernelbridge/runAbove',
  runAll: 'kernelbridge/runAll',
  outputText: 'kernelbridge/outputText',
  output: 'kernelbridge/output',
  status: 'kernelbridge/status',
  cellState: 'kernelbridge/cellState',
  input: 'kernelbridge/input',
} as const;
