// The messages between the extension host and the output panel's webview. Shared by both
// sides (src/outputPanel.ts and src/webview/main.ts), so the two cannot drift apart.
import type { OutputParams } from './protocol';

export type RunState = 'queued' | 'running' | 'done' | 'failed' | 'skipped' | 'other';

/**
 * What the panel draws, in order. A "run" is one execution (its executionId is the runId), or,
 * for output of other clients of a kernel (no executionId, protocol.md §5.1), one block per
 * kernel.
 */
export type PanelEvent =
  | {
      kind: 'run';
      runId: string;
      /** "demo.py:4-6", or what ran. */
      title: string;
      /** The kernel's name. */
      kernel: string;
      state: RunState;
      executionCount?: number;
      /** Milliseconds since the epoch, for the run's duration. */
      at: number;
    }
  | {
      kind: 'output';
      runId: string;
      output: OutputParams;
      /** MIME type → URL of the image, for images the daemon wrote to files (filled in per webview). */
      imageSources?: Record<string, string>;
    }
  | { kind: 'input'; runId: string; prompt: string; password: boolean; value: string | null }
  | { kind: 'notice'; runId?: string; severity: 'info' | 'warning' | 'error'; text: string }
  | { kind: 'clear' };

export type SequencedEvent = PanelEvent & { seq: number };

export type HostToWebview =
  /** Draw from scratch: everything the host kept. */
  | { type: 'reset'; maxRuns: number; events: SequencedEvent[] }
  | { type: 'events'; events: SequencedEvent[] }
  | { type: 'snapshot'; requestId: number };

export type WebviewToHost =
  | { type: 'ready' }
  /** Every event up to this seq is drawn. */
  | { type: 'rendered'; seq: number }
  | { type: 'snapshot'; requestId: number; snapshot: PanelSnapshot }
  | { type: 'openFullOutput'; kernelId: string; executionId: string }
  | { type: 'clear' };

/** What the panel shows, as the webview's DOM has it (for tests and diagnostics). */
export interface PanelSnapshot {
  /** The Content-Security-Policy the page runs under. */
  csp: string;
  runs: Array<{ runId: string; state: string; header: string; text: string }>;
  images: Array<{ runId: string; mime: string; src: string; loaded: boolean; width: number }>;
  /** <script> elements and on* attributes inside the outputs: both must be 0 (sanitized HTML). */
  scripts: number;
  eventHandlers: number;
  /** Spans coloured by ANSI escape sequences. */
  ansiSpans: number;
  /** Elements of rendered HTML and Markdown outputs, by tag name (lower case). */
  htmlTags: Record<string, number>;
  markdownTags: Record<string, number>;
}
