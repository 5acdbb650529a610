// Activation: builds the pieces and wires them together. The daemon starts at once (like any
// language server) so that completion, hover and code lenses are there when a kernel runs.
import * as vscode from 'vscode';
import { Commands } from './commands';
import { Daemon } from './daemon';
import { KernelInput } from './input';
import { KernelEvents } from './kernelEvents';
import { KernelRegistry } from './kernels';
import { errorText, showMessage } from './messages';
import { OutputPanel } from './outputPanel';
import { Kernel, Methods } from './protocol';
import { affectsDaemon, readSettings, Settings } from './settings';
import { KernelStatusBar } from './statusBar';

/** Everything the extension is made of (the self-test drives it). */
export interface Extension {
  daemon: Daemon;
  kernels: KernelRegistry;
  panel: OutputPanel;
  input: KernelInput;
  commands: Commands;
  statusBar: KernelStatusBar;
}

let current: { daemon: Daemon } | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const storageDir = context.globalStorageUri.fsPath;
  let settings: Settings = readSettings(storageDir);
  const getSettings = (): Settings => settings;

  const kernels = new KernelRegistry();
  const expectedShutdowns = new Set<string>();
  // The panel asks the commands for full outputs, and the commands draw in the panel.
  let commands: Commands | undefined;
  const panel = new OutputPanel({
    extensionUri: context.extensionUri,
    imageDir: settings.imageDir,
    maxRuns: settings.maxRuns,
    openFullOutput: (kernelId, executionId) => void commands?.openFullOutput(kernelId, executionId),
  });
  const input = new KernelInput(panel, kernels);

  let events: KernelEvents | undefined;
  const daemon = new Daemon(context.globalState, getSettings, {
    output: (p) => events?.output(p),
    status: (p) => events?.status(p),
    cellState: (p) => events?.cellState(p),
    input: (p, token) => input.answer(p, token),
    serverCommand: (command, args) => commands!.runServerCommand(command, args),
    started: () => events?.daemonStarted(),
    exited: (exit) => events?.daemonExited(exit),
  });
  current = { daemon };
  commands = new Commands(daemon, kernels, panel, getSettings, expectedShutdowns);
  const statusBar = new KernelStatusBar(kernels, (doc) => daemon.running && daemon.serves(doc));
  events = new KernelEvents({
    panel,
    kernels,
    listKernels: () => daemon.request<Kernel[]>(Methods.kernels),
    daemonStopping: () => daemon.stoppingOnPurpose,
    expectedShutdowns,
    restartKernel: (kernelId) => void commands!.restartKernel(kernelId),
    restartDaemon: () => void commands!.restartDaemon(),
    showLog: () => daemon.channel.show(true),
    log: (line) => daemon.channel.warn(line),
    setDaemonDown: (down) => statusBar.setDaemonDown(down),
  });

  context.subscriptions.push(
    ...commands.register(),
    statusBar,
    panel,
    { dispose: () => void daemon.dispose() },
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('kernelbridge')) return;
      settings = readSettings(storageDir);
      panel.setImageDir(settings.imageDir);
      panel.setMaxRuns(settings.maxRuns);
      if (affectsDaemon(e) && daemon.running) {
        void showMessage('info', 'the daemon settings changed; restart the daemon to use them (its kernels stop).', 'Restart Daemon').then((a) => {
          if (a) void commands!.restartDaemon();
        });
      }
    }),
  );

  const started = daemon.ensure().then(
    () => statusBar.update(),
    (error) => void showMessage('error', errorText(error), 'Open Settings').then((a) => {
      if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'kernelbridge.serverPath');
    }),
  );

  const selfTestOutput = process.env['KERNELBRIDGE_SELFTEST_OUT'];
  if (selfTestOutput) {
    // Only in the extension's own end-to-end test (editors/vscode/test).
    const { runSelfTest } = await import('./selfTest');
    void started.then(() => runSelfTest({ daemon, kernels, panel, input, commands: commands!, statusBar }, selfTestOutput));
  }
}

export async function deactivate(): Promise<void> {
  // Shut the daemon down properly: it shuts down the kernels it started.
  await current?.daemon.stop();
}
