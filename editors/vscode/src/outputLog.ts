// What the output panel has drawn, kept in the extension host so that a panel that was closed
// and opened again (a new webview) draws the same runs. Events are kept as they were pushed; the
// oldest runs are dropped beyond `maxRuns`, in the host as in the webview. Pure: no vscode API.
import type { PanelEvent, RunState, SequencedEvent } from './panelMessages';

export class OutputLog {
  private events: SequencedEvent[] = [];
  private nextSeq = 1;
  /** runId → its latest state, in the order the runs appeared. */
  private runs = new Map<string, RunState>();

  constructor(public maxRuns: number) {}

  /** Adds an event; returns it with its sequence number. */
  push(event: PanelEvent): SequencedEvent {
    const sequenced = { ...event, seq: this.nextSeq++ } as SequencedEvent;
    if (event.kind === 'clear') {
      this.events = [];
      this.runs.clear();
      return sequenced;
    }
    if (event.kind === 'run') {
      // Map order is insertion order: a run keeps its place when its state changes.
      this.runs.set(event.runId, event.state);
    } else if ('runId' in event && event.runId !== undefined && !this.runs.has(event.runId)) {
      // Output of a run the panel never saw announced (another client's, or one that began
      // before a daemon restart): it is a run of its own from now on.
      this.runs.set(event.runId, 'other');
    }
    this.events.push(sequenced);
    this.prune();
    return sequenced;
  }

  /** Everything to draw a new webview with. */
  all(): SequencedEvent[] {
    return this.events.slice();
  }

  has(runId: string): boolean {
    return this.runs.has(runId);
  }

  stateOf(runId: string): RunState | undefined {
    return this.runs.get(runId);
  }

  /** Runs still queued or running (for when the daemon dies under them). */
  unfinishedRuns(): string[] {
    return [...this.runs].filter(([, s]) => s === 'queued' || s === 'running').map(([id]) => id);
  }

  /** The last `run` event of a run (its title, kernel, state). */
  lastRunEvent(runId: string): Extract<SequencedEvent, { kind: 'run' }> | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]!;
      if (e.kind === 'run' && e.runId === runId) return e;
    }
    return undefined;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  private prune(): void {
    if (this.runs.size <= this.maxRuns) return;
    const dropped = new Set<string>();
    for (const runId of this.runs.keys()) {
      if (this.runs.size - dropped.size <= this.maxRuns) break;
      dropped.add(runId);
    }
    for (const runId of dropped) this.runs.delete(runId);
    this.events = this.events.filter((e) => !('runId' in e) || e.runId === undefined || !dropped.has(e.runId));
  }
}

/** "demo.py:4-6": the file name and the 1-based lines of a range (end exclusive at character 0). */
export function runTitle(fileName: string, range: { start: { line: number }; end: { line: number; character: number } }): string {
  const first = range.start.line + 1;
  const last = Math.max(first, range.end.character === 0 ? range.end.line : range.end.line + 1);
  return last === first ? `${fileName}:${first}` : `${fileName}:${first}-${last}`;
}
