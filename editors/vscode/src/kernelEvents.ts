// What the daemon says on its own — output, kernel states, cell states, its exit — turned into
// output panel events, kernel registry updates and messages for the user.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DaemonExit } from './daemon';
import { KernelRegistry } from './kernels';
import { showMessage } from './messages';
import { OutputPanel } from './outputPanel';
import { runTitle } from './outputLog';
import { CellStateParams, Kernel, OutputParams, StatusParams } from './protocol';

export interface KernelEventsDeps {
  panel: OutputPanel;
  kernels: KernelRegistry;
  /** `kernelbridge/kernels`, to learn of kernels the daemon started by itself. */
  listKernels(): Promise<Kernel[]>;
  /** Whether the daemon is being stopped on purpose (its kernels' deaths are expected). */
  daemonStopping(): boolean;
  expectedShutdowns: Set<string>;
  restartKernel(kernelId: string): void;
  restartDaemon(): void;
  showLog(): void;
  /** A problem worth a line in the extension's log (not a message). */
  log(line: string): void;
  setDaemonDown(down: boolean): void;
}

export class KernelEvents {
  private refreshing: Promise<void> | undefined;

  constructor(private readonly deps: KernelEventsDeps) {}

  output(params: OutputParams): void {
    const { panel } = this.deps;
    // Output of another client of the kernel has no executionId (protocol.md §5.1).
    const runId = params.executionId ?? `other:${params.kernelId}`;
    if (params.executionId === undefined && !panel.runs.has(runId)) {
      panel.push({ kind: 'run', runId, title: 'output of another client', kernel: this.kernelName(params.kernelId), state: 'other', at: Date.now() });
    }
    panel.push({ kind: 'output', runId, output: params });
  }

  cellState(params: CellStateParams): void {
    const { kernels, panel } = this.deps;
    if (!kernels.get(params.kernelId)) void this.refresh();
    kernels.bindDocument(params.uri, params.kernelId);
    const fileName = path.posix.basename(vscode.Uri.parse(params.uri).path) || params.uri;
    panel.push({
      kind: 'run',
      runId: params.executionId,
      title: runTitle(fileName, params.codeRange ?? params.range),
      kernel: this.kernelName(params.kernelId),
      state: params.state,
      ...(params.executionCount !== undefined ? { executionCount: params.executionCount } : {}),
      at: Date.now(),
    });
  }

  status(params: StatusParams): void {
    const { kernels } = this.deps;
    const { known, previous } = kernels.applyStatus(params);
    if (!known) {
      // A kernel the daemon started for a run (auto-start): ask for its name and documents.
      void this.refresh();
      return;
    }
    if (params.state !== 'dead' || previous === 'dead') return;
    if (this.deps.expectedShutdowns.delete(params.kernelId) || this.deps.daemonStopping()) return;
    const kernel = kernels.get(params.kernelId);
    const name = kernel?.name ?? 'the kernel';
    const reason = params.reason ?? 'no reason given';
    this.deps.panel.push({ kind: 'notice', severity: 'error', text: `${name} died: ${reason}` });
    const actions = kernel?.owned ? ['Restart Kernel'] : [];
    void showMessage('error', `${name} died: ${reason}.`, ...actions).then((a) => {
      if (a === 'Restart Kernel') this.deps.restartKernel(params.kernelId);
    });
  }

  /** The daemon exited by itself: its kernels are gone, runs in flight will not finish. */
  daemonExited(exit: DaemonExit): void {
    const { panel, kernels } = this.deps;
    for (const runId of panel.runs.unfinishedRuns()) {
      const last = panel.runs.lastRunEvent(runId);
      panel.push({ kind: 'run', runId, title: last?.title ?? 'output', kernel: last?.kernel ?? '', state: 'failed', at: Date.now() });
    }
    kernels.clear();
    this.deps.setDaemonDown(true);
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    const text = `the daemon exited (${how}); the kernels it started are gone. The next Kernelbridge command starts a new one.`;
    panel.push({ kind: 'notice', severity: 'error', text: `The kernelbridge daemon exited (${how}).${exit.stderrTail ? `\n${exit.stderrTail}` : ''}` });
    void showMessage('error', text, 'Restart Daemon', 'Show Log').then((a) => {
      if (a === 'Restart Daemon') this.deps.restartDaemon();
      if (a === 'Show Log') this.deps.showLog();
    });
  }

  daemonStarted(): void {
    this.deps.setDaemonDown(false);
    void this.refresh();
  }

  private kernelName(kernelId: string): string {
    return this.deps.kernels.get(kernelId)?.name ?? 'kernel';
  }

  /** One `kernelbridge/kernels` at a time; notifications in a burst share it. */
  private refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.deps
        .listKernels()
        .then((list) => this.deps.kernels.replaceAll(list))
        .catch((e) => this.deps.log(`kernelbridge/kernels failed: ${String(e)}`))
        .finally(() => (this.refreshing = undefined));
    }
    return this.refreshing;
  }
}
