// The status bar item: the kernel of the active document and its state. Click: pick or start a
// kernel (restart it when it died).
import * as vscode from 'vscode';
import { KernelRegistry } from './kernels';

export class KernelStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('kernelbridge.kernel', vscode.StatusBarAlignment.Right, 100);
  private readonly subscriptions: vscode.Disposable[] = [];
  private daemonDown = false;
  private lastDocument: vscode.TextDocument | undefined;

  constructor(
    private readonly kernels: KernelRegistry,
    /** Whether the daemon serves this document's language. */
    private readonly serves: (document: vscode.TextDocument) => boolean,
  ) {
    this.item.name = 'Kernelbridge Kernel';
    this.subscriptions.push(
      kernels.onDidChange(() => this.update()),
      vscode.window.onDidChangeActiveTextEditor(() => this.update()),
    );
    this.update();
  }

  /** The daemon exited by itself: say so until a new one runs. */
  setDaemonDown(down: boolean): void {
    this.daemonDown = down;
    this.update();
  }

  /** What the item shows (for the self-test). */
  get text(): string {
    return this.item.text;
  }

  update(): void {
    // With the output panel (a webview) focused there is no active text editor: keep showing
    // the kernel of the document the user came from.
    const active = vscode.window.activeTextEditor?.document;
    if (active) this.lastDocument = active;
    const document = active ?? (this.lastDocument?.isClosed ? undefined : this.lastDocument);
    const item = this.item;
    item.backgroundColor = undefined;
    if (this.daemonDown) {
      item.text = '$(error) Kernelbridge stopped';
      item.tooltip = 'The kernelbridge daemon exited, and its kernels with it. Click to start it again.';
      item.command = 'kernelbridge.restartDaemon';
      item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
      item.show();
      return;
    }
    if (!document || !this.serves(document)) {
      item.hide();
      return;
    }
    const kernel = this.kernels.kernelFor(document.uri.toString());
    if (!kernel) {
      item.text = '$(circle-slash) No kernel';
      item.tooltip = 'Kernelbridge: no kernel runs for this document. Click to start one (running code starts the default one).';
      item.command = 'kernelbridge.selectKernel';
      item.show();
      return;
    }
    const icons: Record<string, string> = {
      starting: '$(sync~spin)',
      restarting: '$(sync~spin)',
      idle: '$(circle-large-outline)',
      busy: '$(loading~spin)',
      unresponsive: '$(warning)',
      dead: '$(error)',
    };
    item.text = `${icons[kernel.state] ?? ''} ${kernel.name}: ${kernel.state}`;
    const tooltip = new vscode.MarkdownString();
    tooltip.appendMarkdown(`**${escape(kernel.name)}** — ${kernel.state}\n\n`);
    if (kernel.reason) tooltip.appendMarkdown(`${escape(kernel.reason)}\n\n`);
    tooltip.appendMarkdown(kernel.owned ? 'Started by kernelbridge' : 'Connected to (kernelbridge does not own it)');
    tooltip.appendMarkdown(`\n\n${kernel.state === 'dead' && kernel.owned ? 'Click to restart it.' : 'Click to pick another kernel.'}`);
    item.tooltip = tooltip;
    item.command = kernel.state === 'dead' && kernel.owned ? 'kernelbridge.restartKernel' : 'kernelbridge.selectKernel';
    if (kernel.state === 'dead') item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
    if (kernel.state === 'unresponsive') item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    item.show();
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
