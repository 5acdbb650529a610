// The kernelbridge daemon (`kernelbridge --stdio`) as a language client: one daemon per window,
// spawned here (so its exit code is known), talking LSP over stdio. Completion, hover, code
// lenses and diagnostics are plain LSP and go through vscode-languageclient's own providers,
// next to the user's other language servers; the kernelbridge/* notifications and the input
// request are handed to the rest of the extension.
//
// The documents served are those of the languages of the installed kernelspecs. VS Code's
// activation events are static, but the client's document selector is fixed only when it
// starts; so it starts with the languages found last time (or a default), asks the daemon for
// its kernelspecs, and starts once more in the rare case that a kernelspec language is new.
import { ChildProcess, spawn } from 'node:child_process';
import * as os from 'node:os';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  State,
} from 'vscode-languageclient/node';
import { defaultLanguageIds, kernelLanguageFor, languageIdsOf } from './languages';
import { CellStateParams, InputParams, KernelSpec, Methods, OutputParams, StatusParams } from './protocol';
import { Settings } from './settings';

export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines the daemon wrote to stderr (its log). */
  stderrTail: string;
}

/** What the daemon tells the rest of the extension. */
export interface DaemonEvents {
  output(params: OutputParams): void;
  status(params: StatusParams): void;
  cellState(params: CellStateParams): void;
  input(params: InputParams, token: vscode.CancellationToken): Promise<{ value: string }>;
  /** A click on one of the daemon's code lenses (its commands, protocol.md §4.18). */
  serverCommand(command: string, args: unknown[]): Promise<unknown>;
  started(): void;
  /** The daemon exited without being asked to. */
  exited(exit: DaemonExit): void;
}

// Remembered for the next start: the languages served, and the kernelspecs' language names.
const languagesKey = 'kernelbridge.servedLanguages';
const kernelLanguagesKey = 'kernelbridge.kernelLanguages';

export class Daemon implements vscode.Disposable {
  readonly channel = vscode.window.createOutputChannel('Kernelbridge', { log: true });
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient> | undefined;
  private child: ChildProcess | undefined;
  /** The child of the client that finished starting: only its exit is news to the user. */
  private liveChild: ChildProcess | undefined;
  /** Children being stopped on purpose: their exit is no news. */
  private stopping = new Set<ChildProcess>();
  private languages: string[] = [];
  private kernelLanguages: string[] = [];

  constructor(
    private readonly globalState: vscode.Memento,
    private readonly settings: () => Settings,
    private readonly events: DaemonEvents,
  ) {}

  get running(): boolean {
    return this.client?.state === State.Running;
  }

  /** Process id of the running daemon. */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  /** Whether the daemon is being stopped on purpose (the deaths of its kernels are expected). */
  get stoppingOnPurpose(): boolean {
    return this.stopping.size > 0;
  }

  /** The VS Code language ids served. */
  get servedLanguages(): readonly string[] {
    return this.languages;
  }

  /** The running client, starting the daemon first if needed. */
  ensure(): Promise<LanguageClient> {
    if (this.client && this.client.state === State.Running) return Promise.resolve(this.client);
    if (!this.starting) {
      this.starting = this.start().finally(() => (this.starting = undefined));
    }
    return this.starting;
  }

  async request<R>(method: string, params: object = {}, token?: vscode.CancellationToken): Promise<R> {
    const client = await this.ensure();
    // Always an object: vscode-jsonrpc sends an undefined param by position, as [null], which
    // the daemon refuses (by-name params only, protocol.md §1.1).
    return token ? client.sendRequest<R>(method, params, token) : client.sendRequest<R>(method, params);
  }

  /** Whether the daemon knows this document (its language is served). */
  serves(document: vscode.TextDocument): boolean {
    return vscode.languages.match(this.selector(this.languages), document) > 0;
  }

  /** Stops the daemon (shutdown, exit); its kernels are shut down with it. */
  async stop(): Promise<void> {
    const starting = this.starting;
    if (starting) await starting.catch(() => undefined);
    await this.stopClient();
  }

  private async stopClient(): Promise<void> {
    const client = this.client;
    const child = this.child;
    this.client = undefined;
    if (child) this.stopping.add(child);
    if (client) {
      try {
        await client.dispose(5000);
      } catch {
        // A daemon that does not answer shutdown is killed below.
      }
    }
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }

  dispose(): Promise<void> {
    return this.stop().finally(() => this.channel.dispose());
  }

  private async start(): Promise<LanguageClient> {
    await this.stopClient();
    let languages = this.globalState.get<string[]>(languagesKey) ?? defaultLanguageIds;
    this.kernelLanguages = this.globalState.get<string[]>(kernelLanguagesKey) ?? [];
    let client = await this.launch(languages);
    const specs = await client.sendRequest<KernelSpec[]>(Methods.kernelspecs, {});
    this.kernelLanguages = specs.map((s) => s.language);
    const wanted = languageIdsOf(specs);
    if (wanted.length > 0) {
      await this.globalState.update(languagesKey, wanted);
      await this.globalState.update(kernelLanguagesKey, this.kernelLanguages);
    }
    if (wanted.some((l) => !languages.includes(l))) {
      // No kernel runs yet, so a new daemon costs only its start.
      await this.stopClient();
      languages = [...new Set([...languages, ...wanted])].sort();
      client = await this.launch(languages);
    }
    this.languages = languages;
    this.liveChild = this.child;
    await vscode.commands.executeCommand('setContext', 'kernelbridge.languages', languages);
    this.events.started();
    return client;
  }

  private selector(languages: readonly string[]): Array<{ scheme: string; language: string }> {
    return languages.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]);
  }

  private async launch(languages: string[]): Promise<LanguageClient> {
    const settings = this.settings();
    const options: LanguageClientOptions = {
      documentSelector: this.selector(languages),
      initializationOptions: settings.initializationOptions,
      outputChannel: this.channel,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      errorHandler: {
        // A write error means the daemon is going away; its exit is reported by `exited`.
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => ({ action: CloseAction.DoNotRestart, handled: true }),
      },
      middleware: {
        didOpen: (document, next) => next(this.withKernelLanguage(document)),
        // Code lens clicks: run them like the extension's own commands (panel, errors).
        executeCommand: (command, args) => this.events.serverCommand(command, args),
      },
    };
    const client = new LanguageClient('kernelbridge', 'Kernelbridge', () => this.spawn(settings), options);
    client.onNotification(Methods.output, (p: OutputParams) => this.events.output(p));
    client.onNotification(Methods.status, (p: StatusParams) => this.events.status(p));
    client.onNotification(Methods.cellState, (p: CellStateParams) => this.events.cellState(p));
    client.onRequest(Methods.input, (p: InputParams, token: vscode.CancellationToken) => this.events.input(p, token));
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.client = undefined;
      await client.dispose(1000).catch(() => undefined);
      throw error;
    }
    return client;
  }

  /**
   * The daemon matches a document's language to its kernels' by name (protocol.md §3.3); where
   * VS Code's id differs from the kernelspec's language ("cpp" for "C++"), it gets the latter.
   */
  private withKernelLanguage(document: vscode.TextDocument): vscode.TextDocument {
    const language = kernelLanguageFor(document.languageId, this.kernelLanguages);
    if (language === document.languageId) return document;
    return Object.create(document, { languageId: { value: language } }) as vscode.TextDocument;
  }

  private spawn(settings: Settings): Promise<ChildProcess> {
    const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file');
    const cwd = folder ? folder.uri.fsPath : os.homedir();
    return new Promise((resolve, reject) => {
      const child = spawn(settings.serverPath, [...settings.serverArgs, '--stdio'], { cwd, stdio: 'pipe' });
      let stderrTail = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4000);
      });
      child.once('error', (err) => {
        reject(new Error(`cannot start the daemon "${settings.serverPath}": ${err.message}. Set kernelbridge.serverPath to the kernelbridge executable.`));
      });
      child.once('spawn', () => {
        this.child = child;
        resolve(child);
      });
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        const announce = this.liveChild === child && !this.stopping.has(child);
        this.stopping.delete(child);
        if (this.liveChild === child) this.liveChild = undefined;
        if (!announce) return;
        const lines = stderrTail.trimEnd().split('\n');
        this.events.exited({ code, signal, stderrTail: lines.slice(-8).join('\n') });
      });
    });
  }
}
