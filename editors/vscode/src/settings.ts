// The extension's settings (package.json `contributes.configuration`).
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { initializationOptions } from './options';

export interface Settings {
  serverPath: string;
  serverArgs: string[];
  revealOnRun: boolean;
  maxRuns: number;
  initializationOptions: Record<string, unknown>;
  /** Where the daemon writes images: the output panel may load files from there only. */
  imageDir: string;
}

/** Reads the settings; `storageDir` is the extension's own directory, for the default imageDir. */
export function readSettings(storageDir: string): Settings {
  const c = vscode.workspace.getConfiguration('kernelbridge');
  const { options, imageDir } = initializationOptions({
    autoStart: c.get<boolean>('autoStart', true),
    defaultKernelspecs: c.get<Record<string, string>>('defaultKernelspecs', {}),
    requestTimeout: c.get<number>('requestTimeout', 10),
    maxCharsPerExecution: c.get<number>('output.maxCharsPerExecution', 200000),
    imageDir: expandHome(c.get<string>('output.imageDir', '')) || path.join(storageDir, 'images'),
    extra: c.get<Record<string, unknown>>('initializationOptions', {}),
  });
  return {
    serverPath: expandHome(c.get<string>('serverPath', 'kernelbridge')),
    serverArgs: c.get<string[]>('serverArgs', []),
    revealOnRun: c.get<boolean>('output.revealOnRun', true),
    maxRuns: c.get<number>('output.maxRuns', 200),
    initializationOptions: options,
    imageDir: expandHome(imageDir),
  };
}

/** Whether a settings change needs a new daemon (its command or its initializationOptions). */
export function affectsDaemon(e: vscode.ConfigurationChangeEvent): boolean {
  const keys = ['serverPath', 'serverArgs', 'autoStart', 'defaultKernelspecs', 'requestTimeout', 'output.maxCharsPerExecution', 'output.imageDir', 'initializationOptions'];
  return keys.some((key) => e.affectsConfiguration(`kernelbridge.${key}`));
}

export function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return p;
}
