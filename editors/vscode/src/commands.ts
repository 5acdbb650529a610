// The extension's commands. Each one is a request to the daemon for the active document; the
// daemon cuts the cells, picks or starts the kernel and sends the output as notifications, which
// kernelEvents.ts draws. Command ids differ from the daemon's own `kernelbridge.<method>`
// commands, which vscode-languageclient registers for the code lenses.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Daemon } from './daemon';
import { KernelEntry, KernelRegistry } from './kernels';
import { languageIdOf } from './languages';
import { errorCode, errorText, showMessage } from './messages';
import { OutputPanel } from './outputPanel';
import { CellRunResult, ErrorCodes, Kernel, KernelSpec, Methods, MultiRunResult, OutputTextResult } from './protocol';
import { Settings } from './settings';
import { renderPlain } from './terminal';

type KernelPick = vscode.QuickPickItem & { action?: { kind: 'start'; spec: string } | { kind: 'bind'; kernelId: string } | { kind: 'connect' } };

export class Commands {
  constructor(
    private readonly daemon: Daemon,
    private readonly kernels: KernelRegistry,
    private readonly panel: OutputPanel,
    private readonly settings: () => Settings,
    /** Kernels being shut down on purpose: their `dead` status is no news. */
    private readonly expectedShutdowns: Set<string>,
  ) {}

  register(): vscode.Disposable[] {
    const r = vscode.commands.registerCommand;
    return [
      r('kernelbridge.selectKernel', (spec?: unknown) => this.selectKernel(typeof spec === 'string' ? spec : undefined)),
      r('kernelbridge.connectKernel', (file?: unknown) => this.connectKernel(typeof file === 'string' ? file : undefined)),
      r('kernelbridge.runCell', () => this.runCell()),
      r('kernelbridge.runLine', () => this.runLine()),
      r('kernelbridge.runSelection', () => this.runSelection()),
      r('kernelbridge.runFile', () => this.runFile()),
      r('kernelbridge.runCellsAbove', () => this.runCellsAbove()),
      r('kernelbridge.interruptKernel', () => this.interruptKernel()),
      r('kernelbridge.restartKernel', () => this.restartKernel()),
      r('kernelbridge.shutdownKernel', () => this.shutdownKernel()),
      r('kernelbridge.showOutput', () => this.panel.show(false)),
      r('kernelbridge.clearOutput', () => this.panel.clear()),
      r('kernelbridge.restartDaemon', () => this.restartDaemon()),
    ];
  }

  // --- running code -------------------------------------------------------------------------

  runCell(): Promise<CellRunResult | undefined> {
    return this.runInEditor((doc, editor) => [Methods.executeCell, { uri: doc.uri.toString(), position: lineStart(editor.selection.active.line) }]);
  }

  runLine(): Promise<CellRunResult | undefined> {
    return this.runInEditor((doc, editor) => [Methods.executeRange, { uri: doc.uri.toString(), range: wholeLine(doc, editor.selection.active.line) }]);
  }

  /** The selection's lines (the daemon runs whole lines), or the line at the cursor. */
  runSelection(): Promise<CellRunResult | undefined> {
    return this.runInEditor((doc, editor) => {
      const s = editor.selection;
      const range = s.isEmpty ? wholeLine(doc, s.active.line) : { start: toPosition(s.start), end: toPosition(s.end) };
      return [Methods.executeRange, { uri: doc.uri.toString(), range }];
    });
  }

  runFile(): Promise<MultiRunResult | undefined> {
    return this.runInEditor((doc) => [Methods.runAll, { uri: doc.uri.toString() }]);
  }

  runCellsAbove(): Promise<MultiRunResult | undefined> {
    return this.runInEditor((doc, editor) => [Methods.runAbove, { uri: doc.uri.toString(), position: lineStart(editor.selection.active.line) }]);
  }

  /** A click on one of the daemon's code lenses: its command, through workspace/executeCommand. */
  async runServerCommand(command: string, args: unknown[]): Promise<unknown> {
    try {
      if (this.settings().revealOnRun) this.panel.show(true);
      const result = await this.daemon.request('workspace/executeCommand', { command, arguments: args });
      this.noteSkipped(result);
      return result;
    } catch (error) {
      this.reportRunError(error);
      return undefined;
    }
  }

  private async runInEditor<R>(params: (doc: vscode.TextDocument, editor: vscode.TextEditor) => [string, object]): Promise<R | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void showMessage('warning', 'open a document to run code from.');
      return undefined;
    }
    const document = editor.document;
    try {
      await this.daemon.ensure();
      if (!this.daemon.serves(document)) {
        const served = this.daemon.servedLanguages.join(', ') || 'none';
        void showMessage('warning', `no kernel can run ${document.languageId} documents (the installed kernelspecs' languages: ${served}).`);
        return undefined;
      }
      if (this.settings().revealOnRun) this.panel.show(true);
      const [method, p] = params(document, editor);
      const result = await this.daemon.request<R>(method, p);
      this.noteSkipped(result);
      return result;
    } catch (error) {
      this.reportRunError(error);
      return undefined;
    }
  }

  private noteSkipped(result: unknown): void {
    const r = result as Partial<CellRunResult & MultiRunResult> | undefined;
    if (r?.status === 'skipped' || (Array.isArray(r?.cells) && r!.cells.length === 0)) {
      vscode.window.setStatusBarMessage('Kernelbridge: nothing to run there (no code)', 4000);
    }
  }

  private reportRunError(error: unknown): void {
    const code = errorCode(error);
    // Cancelled; the kernel died (its status says so) or was restarted during the run.
    if (code === ErrorCodes.RequestCancelled || code === ErrorCodes.KernelDead || code === ErrorCodes.KernelRestarted) return;
    if (code === ErrorCodes.NoKernelForDocument) {
      void showMessage('error', errorText(error), 'Select Kernel').then((a) => {
        if (a) void vscode.commands.executeCommand('kernelbridge.selectKernel');
      });
      return;
    }
    void showMessage('error', errorText(error));
  }

  // --- kernels ------------------------------------------------------------------------------

  /** Quick pick: the running kernels (to run this document on) and the kernelspecs (to start). */
  async selectKernel(spec?: string): Promise<Kernel | undefined> {
    const document = vscode.window.activeTextEditor?.document;
    try {
      if (spec !== undefined) return await this.startKernel(spec, document);
      const [specs, running] = await Promise.all([
        this.daemon.request<KernelSpec[]>(Methods.kernelspecs),
        this.daemon.request<Kernel[]>(Methods.kernels),
      ]);
      this.kernels.replaceAll(running);
      const pick = await vscode.window.showQuickPick(this.kernelPicks(specs, running, document), {
        title: 'Kernelbridge: select a kernel',
        placeHolder: document ? `for ${path.basename(document.uri.path)}` : 'start a kernel',
        matchOnDescription: true,
        matchOnDetail: true,
      });
      const action = pick?.action;
      if (!action) return undefined;
      if (action.kind === 'start') return await this.startKernel(action.spec, document);
      if (action.kind === 'connect') return await this.connectKernel();
      if (!document) return undefined;
      const kernel = await this.daemon.request<Kernel>(Methods.bind, { uri: document.uri.toString(), kernelId: action.kernelId });
      this.kernels.update(kernel);
      return kernel;
    } catch (error) {
      this.reportKernelError(error);
      return undefined;
    }
  }

  private kernelPicks(specs: KernelSpec[], running: Kernel[], document: vscode.TextDocument | undefined): KernelPick[] {
    const uri = document?.uri.toString();
    const language = document?.languageId;
    const picks: KernelPick[] = [];
    const alive = running.filter((k) => k.state !== 'dead');
    if (alive.length > 0) {
      picks.push({ label: 'Running kernels', kind: vscode.QuickPickItemKind.Separator });
      for (const k of alive) {
        picks.push({
          label: `$(vm-running) ${k.displayName || k.kernelspec || 'kernel'}`,
          description: `${k.state}${k.owned ? '' : ', connected'}${uri && k.documents.includes(uri) ? ', this document' : ''}`,
          detail: k.documents.map((d) => path.basename(vscode.Uri.parse(d).path)).join(', ') || undefined,
          action: { kind: 'bind', kernelId: k.kernelId },
        });
      }
    }
    picks.push({ label: 'Start a kernel', kind: vscode.QuickPickItemKind.Separator });
    // Kernelspecs of the document's language first.
    const sorted = [...specs].sort((a, b) => Number(!sameLanguage(b, language)) - Number(!sameLanguage(a, language)));
    for (const s of sorted) {
      picks.push({ label: `$(play) ${s.displayName}`, description: `${s.name} · ${s.language || 'no language'}`, action: { kind: 'start', spec: s.name } });
    }
    picks.push({ label: 'Other', kind: vscode.QuickPickItemKind.Separator });
    picks.push({ label: '$(plug) Connect to a running kernel…', description: 'its connection file', action: { kind: 'connect' } });
    return picks;
  }

  async startKernel(spec: string, document: vscode.TextDocument | undefined): Promise<Kernel | undefined> {
    const params: Record<string, unknown> = { kernelspec: spec };
    if (document && this.daemon.serves(document)) {
      params['uri'] = document.uri.toString();
      // The kernel runs where the file is, as `python file.py` would.
      if (document.uri.scheme === 'file') params['cwd'] = path.dirname(document.uri.fsPath);
    }
    const kernel = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Kernelbridge: starting ${spec}…`, cancellable: true },
      (_progress, token) => this.daemon.request<Kernel>(Methods.start, params, token),
    );
    this.kernels.update(kernel);
    if (params['uri']) this.kernels.bindDocument(params['uri'] as string, kernel.kernelId);
    vscode.window.setStatusBarMessage(`Kernelbridge: ${kernel.displayName || spec} started`, 4000);
    return kernel;
  }

  async connectKernel(file?: string): Promise<Kernel | undefined> {
    const document = vscode.window.activeTextEditor?.document;
    try {
      if (file === undefined) {
        const runtime = jupyterRuntimeDir();
        const picked = await vscode.window.showOpenDialog({
          title: 'Kernelbridge: connect to a kernel',
          openLabel: 'Connect',
          canSelectMany: false,
          filters: { 'Jupyter connection file': ['json'] },
          ...(runtime ? { defaultUri: vscode.Uri.file(runtime) } : {}),
        });
        file = picked?.[0]?.fsPath;
        if (file === undefined) return undefined;
      }
      const params: Record<string, unknown> = { connectionFile: file };
      if (document && this.daemon.serves(document)) params['uri'] = document.uri.toString();
      const kernel = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Kernelbridge: connecting to ${path.basename(file)}…` },
        () => this.daemon.request<Kernel>(Methods.connect, params),
      );
      this.kernels.update(kernel);
      if (params['uri']) this.kernels.bindDocument(params['uri'] as string, kernel.kernelId);
      return kernel;
    } catch (error) {
      this.reportKernelError(error);
      return undefined;
    }
  }

  async interruptKernel(): Promise<boolean> {
    const kernel = await this.activeKernel();
    if (!kernel) return false;
    try {
      await this.daemon.request(Methods.interrupt, { kernelId: kernel.kernelId });
      vscode.window.setStatusBarMessage(`Kernelbridge: interrupted ${kernel.name}`, 3000);
      return true;
    } catch (error) {
      this.reportKernelError(error);
      return false;
    }
  }

  async restartKernel(kernelId?: string): Promise<Kernel | undefined> {
    const kernel = kernelId !== undefined ? this.kernels.get(kernelId) : await this.activeKernel();
    if (!kernel) return undefined;
    if (!kernel.owned) {
      void showMessage('warning', `${kernel.name} was connected to, not started by kernelbridge, so it cannot be restarted from here.`);
      return undefined;
    }
    try {
      const restarted = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Kernelbridge: restarting ${kernel.name}…` },
        () => this.daemon.request<Kernel>(Methods.restart, { kernelId: kernel.kernelId }),
      );
      this.kernels.update(restarted);
      this.panel.push({ kind: 'notice', severity: 'info', text: `${kernel.name} restarted: its variables are gone.` });
      return restarted;
    } catch (error) {
      this.reportKernelError(error);
      return undefined;
    }
  }

  async shutdownKernel(): Promise<boolean> {
    const kernel = await this.activeKernel();
    if (!kernel) return false;
    this.expectedShutdowns.add(kernel.kernelId);
    try {
      await this.daemon.request(Methods.shutdown, { kernelId: kernel.kernelId });
      this.kernels.remove(kernel.kernelId);
      vscode.window.setStatusBarMessage(`Kernelbridge: ${kernel.name} shut down`, 4000);
      return true;
    } catch (error) {
      this.expectedShutdowns.delete(kernel.kernelId);
      this.reportKernelError(error);
      return false;
    }
  }

  async restartDaemon(): Promise<void> {
    if (this.kernels.all().some((k) => k.state !== 'dead' && k.owned)) {
      const answer = await vscode.window.showWarningMessage(
        'Restart the kernelbridge daemon? The kernels it started are shut down with it.',
        { modal: true },
        'Restart',
      );
      if (answer !== 'Restart') return;
    }
    try {
      await this.daemon.stop();
      this.kernels.clear();
      await this.daemon.ensure();
    } catch (error) {
      void showMessage('error', errorText(error));
    }
  }

  /** The kernel of the active document: the one the extension knows of, else the daemon's. */
  private async activeKernel(): Promise<KernelEntry | undefined> {
    const document = vscode.window.activeTextEditor?.document;
    if (!document) {
      void showMessage('warning', 'open a document whose kernel to use.');
      return undefined;
    }
    const uri = document.uri.toString();
    try {
      let kernel = this.kernels.kernelFor(uri);
      if (!kernel) {
        this.kernels.replaceAll(await this.daemon.request<Kernel[]>(Methods.kernels));
        kernel = this.kernels.kernelFor(uri);
      }
      if (!kernel) {
        void showMessage('warning', `no kernel runs for ${path.basename(document.uri.path)}.`, 'Select Kernel').then((a) => {
          if (a) void vscode.commands.executeCommand('kernelbridge.selectKernel');
        });
      }
      return kernel;
    } catch (error) {
      this.reportKernelError(error);
      return undefined;
    }
  }

  private reportKernelError(error: unknown): void {
    if (errorCode(error) === ErrorCodes.RequestCancelled) return;
    void showMessage('error', errorText(error));
  }

  // --- output -------------------------------------------------------------------------------

  /** The whole stream output of a truncated run (protocol.md §4.10b), in an editor. */
  async openFullOutput(kernelId: string, executionId: string): Promise<void> {
    try {
      const pieces = await this.daemon.request<OutputTextResult>(Methods.outputText, { kernelId, executionId });
      const byStream = new Map<string, string>();
      for (const p of pieces) byStream.set(p.name, (byStream.get(p.name) ?? '') + p.text);
      const parts = [...byStream].map(([name, text]) => (byStream.size > 1 ? `--- ${name} ---\n` : '') + renderPlain(text));
      const doc = await vscode.workspace.openTextDocument({ content: parts.join('\n'), language: 'plaintext' });
      await vscode.window.showTextDocument(doc, { preview: true });
    } catch (error) {
      void showMessage('error', errorText(error));
    }
  }
}

function lineStart(line: number): { line: number; character: number } {
  return { line, character: 0 };
}

function toPosition(p: vscode.Position): { line: number; character: number } {
  return { line: p.line, character: p.character };
}

function wholeLine(doc: vscode.TextDocument, line: number): { start: { line: number; character: number }; end: { line: number; character: number } } {
  return { start: lineStart(line), end: { line, character: doc.lineAt(line).text.length } };
}

function sameLanguage(spec: KernelSpec, languageId: string | undefined): boolean {
  return languageId !== undefined && languageIdOf(spec.language) === languageId;
}

function jupyterRuntimeDir(): string | undefined {
  const candidates = [
    process.env['JUPYTER_RUNTIME_DIR'],
    path.join(process.env['XDG_DATA_HOME'] || path.join(os.homedir(), '.local', 'share'), 'jupyter', 'runtime'),
    path.join(os.homedir(), 'Library', 'Jupyter', 'runtime'),
  ];
  return candidates.find((d): d is string => !!d && fs.existsSync(d));
}
