// The kernel's input() and getpass() (protocol.md §5.3, the daemon's request kernelbridge/input):
// asked with an input box, password input hidden. The prompt and the answer (masked for a
// password) are also drawn in the run's output, as a terminal would show them.
import * as vscode from 'vscode';
import { KernelRegistry } from './kernels';
import { OutputPanel } from './outputPanel';
import { InputParams } from './protocol';

export interface PromptRequest {
  prompt: string;
  password: boolean;
  /** The kernel's name, for the box's title. */
  kernel: string;
}

/** Asks the user; undefined when they dismissed the box. */
export type Prompter = (request: PromptRequest, token: vscode.CancellationToken) => Thenable<string | undefined>;

export const inputBoxPrompter: Prompter = (request, token) =>
  vscode.window.showInputBox(
    {
      title: `Input for ${request.kernel}`,
      prompt: request.prompt.trim() || 'The kernel asks for input',
      password: request.password,
      // The kernel waits for this answer: clicking elsewhere must not throw it away.
      ignoreFocusOut: true,
    },
    token,
  );

export class KernelInput {
  /** Replaceable so the self-test can answer without a person. */
  prompter: Prompter = inputBoxPrompter;

  constructor(
    private readonly panel: OutputPanel,
    private readonly kernels: KernelRegistry,
  ) {}

  /**
   * Answers one input request. A dismissed box answers "" (the kernel gets an empty line, as
   * when Enter is pressed at once); a request the daemon withdrew (the run was interrupted or
   * ended, `$/cancelRequest`) closes the box, and its answer is ignored by the daemon.
   */
  async answer(params: InputParams, token: vscode.CancellationToken): Promise<{ value: string }> {
    const kernel = this.kernels.get(params.kernelId)?.name ?? 'the kernel';
    const value = await this.prompter({ prompt: params.prompt, password: params.password, kernel }, token);
    if (token.isCancellationRequested) {
      this.panel.push({ kind: 'notice', runId: params.executionId, severity: 'info', text: `${params.prompt}(input no longer wanted)` });
      return { value: '' };
    }
    this.panel.push({ kind: 'input', runId: params.executionId, prompt: params.prompt, password: params.password, value: value ?? null });
    return { value: value ?? '' };
  }
}
