// Every message the extension shows goes through here, so each says where it comes from the
// same way, and the self-test can check that a dead kernel or daemon was really reported.
import * as vscode from 'vscode';

export type Severity = 'info' | 'warning' | 'error';

export interface ShownMessage {
  severity: Severity;
  text: string;
  at: number;
}

const recent: ShownMessage[] = [];

/** Shows a notification; resolves to the action clicked, if any. */
export function showMessage(severity: Severity, text: string, ...actions: string[]): Thenable<string | undefined> {
  recent.push({ severity, text, at: Date.now() });
  if (recent.length > 50) recent.shift();
  const message = `Kernelbridge: ${text}`;
  if (severity === 'error') return vscode.window.showErrorMessage(message, ...actions);
  if (severity === 'warning') return vscode.window.showWarningMessage(message, ...actions);
  return vscode.window.showInformationMessage(message, ...actions);
}

export function recentMessages(): readonly ShownMessage[] {
  return recent;
}

/** The text of an error from a request (a JSON-RPC ResponseError or any Error). */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The JSON-RPC error code of a failed request, if it has one. */
export function errorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}
