// The output panel: a webview beside the editor that draws runs as their output streams in.
// The host keeps the events (OutputLog) and sends them on; the webview (src/webview/main.ts)
// draws them and says which it has drawn. The page runs under a strict Content-Security-Policy:
// only its own script (by nonce) and stylesheet, images from the daemon's image directory and
// data: URLs; kernel HTML is sanitized in the webview before it is inserted.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { OutputLog } from './outputLog';
import type { HostToWebview, PanelEvent, PanelSnapshot, SequencedEvent, WebviewToHost } from './panelMessages';

export interface OutputPanelOptions {
  extensionUri: vscode.Uri;
  imageDir: string;
  maxRuns: number;
  /** The webview's "Open full output" on a truncated run. */
  openFullOutput(kernelId: string, executionId: string): void;
}

export class OutputPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private ready = false;
  private readonly log: OutputLog;
  private imageDir: string;
  private renderedSeq = 0;
  private renderedWaiters: Array<{ seq: number; resolve: () => void }> = [];
  private snapshots = new Map<number, (s: PanelSnapshot) => void>();
  private nextSnapshotId = 1;

  constructor(private readonly options: OutputPanelOptions) {
    this.log = new OutputLog(options.maxRuns);
    this.imageDir = options.imageDir;
  }

  /** Shows the panel (creating it if needed) beside the active editor. */
  show(preserveFocus = true): void {
    if (this.panel) {
      if (!this.panel.visible) this.panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      'kernelbridge.output',
      'Kernelbridge Output',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus },
      {
        enableScripts: true,
        // Hidden panels keep their DOM: switching tabs must not redraw long outputs.
        retainContextWhenHidden: true,
        localResourceRoots: this.resourceRoots(),
      },
    );
    this.panel = panel;
    this.ready = false;
    this.renderedSeq = 0;
    panel.webview.onDidReceiveMessage((m: WebviewToHost) => this.onMessage(m));
    panel.onDidDispose(() => {
      if (this.panel === panel) {
        this.panel = undefined;
        this.ready = false;
      }
    });
    panel.webview.html = this.html(panel.webview);
  }

  get visible(): boolean {
    return this.panel?.visible ?? false;
  }

  /** Adds an event; the webview draws it now if it is open, else when it opens. */
  push(event: PanelEvent): SequencedEvent {
    const sequenced = this.log.push(event);
    if (this.panel && this.ready) this.post({ type: 'events', events: [this.forWebview(sequenced, this.panel.webview)] });
    return sequenced;
  }

  clear(): void {
    this.push({ kind: 'clear' });
  }

  /** The log: run states, for the extension's bookkeeping. */
  get runs(): Pick<OutputLog, 'has' | 'stateOf' | 'unfinishedRuns' | 'lastRunEvent' | 'lastSeq'> {
    return this.log;
  }

  setMaxRuns(n: number): void {
    this.log.maxRuns = n;
  }

  /** The daemon writes images elsewhere now: the webview may load from there. */
  setImageDir(dir: string): void {
    if (dir === this.imageDir) return;
    this.imageDir = dir;
    if (this.panel) this.panel.webview.options = { ...this.panel.webview.options, localResourceRoots: this.resourceRoots() };
  }

  /** Resolves once the webview has drawn every event up to `seq`. */
  whenRendered(seq: number): Promise<void> {
    if (this.renderedSeq >= seq) return Promise.resolve();
    return new Promise((resolve) => this.renderedWaiters.push({ seq, resolve }));
  }

  /** What the webview shows now (for the self-test). */
  snapshot(): Promise<PanelSnapshot> {
    if (!this.panel || !this.ready) return Promise.reject(new Error('the output panel is not open'));
    const requestId = this.nextSnapshotId++;
    return new Promise((resolve) => {
      this.snapshots.set(requestId, resolve);
      this.post({ type: 'snapshot', requestId });
    });
  }

  dispose(): void {
    this.panel?.dispose();
  }

  private onMessage(message: WebviewToHost): void {
    switch (message.type) {
      case 'ready':
        if (!this.panel) return;
        this.ready = true;
        this.post({
          type: 'reset',
          maxRuns: this.log.maxRuns,
          events: this.log.all().map((e) => this.forWebview(e, this.panel!.webview)),
        });
        break;
      case 'rendered':
        this.renderedSeq = Math.max(this.renderedSeq, message.seq);
        this.renderedWaiters = this.renderedWaiters.filter((w) => {
          if (w.seq > this.renderedSeq) return true;
          w.resolve();
          return false;
        });
        break;
      case 'snapshot': {
        const resolve = this.snapshots.get(message.requestId);
        this.snapshots.delete(message.requestId);
        resolve?.(message.snapshot);
        break;
      }
      case 'openFullOutput':
        this.options.openFullOutput(message.kernelId, message.executionId);
        break;
      case 'clear':
        this.clear();
        break;
    }
  }

  private post(message: HostToWebview): void {
    void this.panel?.webview.postMessage(message);
  }

  /** Image files become URLs this webview may load (inside its localResourceRoots). */
  private forWebview(event: SequencedEvent, webview: vscode.Webview): SequencedEvent {
    if (event.kind !== 'output') return event;
    const files = (event.output.content as { files?: Record<string, string> }).files;
    if (!files) return event;
    const imageSources: Record<string, string> = {};
    for (const [mime, file] of Object.entries(files)) {
      imageSources[mime] = webview.asWebviewUri(vscode.Uri.file(file)).toString();
    }
    return { ...event, imageSources };
  }

  private resourceRoots(): vscode.Uri[] {
    return [vscode.Uri.joinPath(this.options.extensionUri, 'dist'), vscode.Uri.file(path.resolve(this.imageDir))];
  }

  private html(webview: vscode.Webview): string {
    const nonce = randomBytes(18).toString('base64');
    const dist = vscode.Uri.joinPath(this.options.extensionUri, 'dist');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.css'));
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource}`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>Kernelbridge Output</title>
</head>
<body>
<div id="toolbar"><span id="summary"></span><button id="clear" type="button" title="Clear the output">Clear</button></div>
<main id="runs" aria-live="polite"><p id="empty">Output of the code you run appears here.</p></main>
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
  }
}
