// The kernels the daemon has, as far as the extension knows: their names and states (for the
// status bar and messages) and which documents run on which kernel. The daemon is the authority
// (`kernelbridge/kernels`); this follows its notifications in between. Pure: no vscode API.
import type { Kernel, KernelState, StatusParams } from './protocol';

export interface KernelEntry {
  kernelId: string;
  /** What people call it: the display name, else the kernelspec, else "kernel". */
  name: string;
  kernelspec: string;
  language: string;
  state: KernelState;
  owned: boolean;
  connectionFile: string;
  /** Why it died (`dead`) or does not answer (`unresponsive`). */
  reason?: string;
}

export class KernelRegistry {
  private kernels = new Map<string, KernelEntry>();
  /** Document URI → kernelId. */
  private documents = new Map<string, string>();
  private listeners: Array<() => void> = [];

  onDidChange(listener: () => void): { dispose(): void } {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  }

  /** A kernel from a start/connect/restart/bind result. */
  update(kernel: Kernel): KernelEntry {
    const entry = entryOf(kernel, this.kernels.get(kernel.kernelId));
    this.kernels.set(kernel.kernelId, entry);
    for (const uri of kernel.documents ?? []) this.documents.set(uri, kernel.kernelId);
    this.changed();
    return entry;
  }

  /** The daemon's whole list (`kernelbridge/kernels`): kernels not in it are gone. */
  replaceAll(kernels: Kernel[]): void {
    const next = new Map<string, KernelEntry>();
    for (const k of kernels) next.set(k.kernelId, entryOf(k, this.kernels.get(k.kernelId)));
    this.kernels = next;
    const documents = new Map<string, string>();
    for (const k of kernels) for (const uri of k.documents ?? []) documents.set(uri, k.kernelId);
    // A binding learned after the list was asked for (a cell state) stays while its kernel does.
    for (const [uri, id] of this.documents) if (!documents.has(uri) && next.has(id)) documents.set(uri, id);
    this.documents = documents;
    this.changed();
  }

  /**
   * Follows a `kernelbridge/status`. Returns whether the kernel was known (an unknown one was
   * started by the daemon itself, for a document without a kernel, and is worth asking for).
   */
  applyStatus(status: StatusParams): { known: boolean; previous?: KernelState } {
    const entry = this.kernels.get(status.kernelId);
    if (!entry) return { known: false };
    const previous = entry.state;
    entry.state = status.state;
    // A reason comes with `dead` and `unresponsive`; other states end it.
    if (status.reason !== undefined && (status.state === 'dead' || status.state === 'unresponsive')) entry.reason = status.reason;
    else if (status.state !== 'dead') delete entry.reason;
    this.changed();
    return { known: true, previous };
  }

  bindDocument(uri: string, kernelId: string): void {
    if (this.documents.get(uri) === kernelId) return;
    this.documents.set(uri, kernelId);
    this.changed();
  }

  /** A kernel that was shut down: it and its document bindings are gone. */
  remove(kernelId: string): void {
    this.kernels.delete(kernelId);
    for (const [uri, id] of this.documents) if (id === kernelId) this.documents.delete(uri);
    this.changed();
  }

  /** The daemon is gone, and every kernel with it. */
  clear(): void {
    this.kernels.clear();
    this.documents.clear();
    this.changed();
  }

  get(kernelId: string): KernelEntry | undefined {
    return this.kernels.get(kernelId);
  }

  kernelFor(uri: string): KernelEntry | undefined {
    const id = this.documents.get(uri);
    return id === undefined ? undefined : this.kernels.get(id);
  }

  all(): KernelEntry[] {
    return [...this.kernels.values()];
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}

function entryOf(kernel: Kernel, previous: KernelEntry | undefined): KernelEntry {
  const entry: KernelEntry = {
    kernelId: kernel.kernelId,
    name: kernel.displayName || kernel.kernelspec || kernel.language_info?.name || 'kernel',
    kernelspec: kernel.kernelspec,
    language: kernel.language,
    state: kernel.state,
    owned: kernel.owned,
    connectionFile: kernel.connectionFile,
  };
  if (kernel.state === 'dead' && previous?.reason !== undefined) entry.reason = previous.reason;
  return entry;
}
