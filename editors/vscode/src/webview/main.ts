// The output panel's page. Draws the events the extension host sends (src/panelMessages.ts):
// one block per run with a header (count, what ran, kernel, state, time) and its outputs as they
// stream in. Stream text follows terminal rules (src/terminal.ts) with ANSI colours; HTML and
// Markdown are sanitized with DOMPurify before they touch the DOM (no scripts, no event
// handlers, no styles: the page's CSP would refuse inline styles anyway); images are <img>
// elements whose URLs the host made loadable. After each batch it tells the host what it drew.
import DOMPurify from 'dompurify';
import MarkdownIt from 'markdown-it';
import { styleToCss } from '../ansi';
import { chooseRepresentation } from '../mime';
import type { HostToWebview, PanelSnapshot, RunState, SequencedEvent, WebviewToHost } from '../panelMessages';
import type { DisplayContent, ErrorContent, OutputParams, StreamContent, TruncatedContent } from '../protocol';
import { Line, StreamText } from '../terminal';

declare function acquireVsCodeApi(): { postMessage(message: WebviewToHost): void };
const host = acquireVsCodeApi();

const runsEl = document.getElementById('runs') as HTMLElement;
const emptyEl = document.getElementById('empty') as HTMLElement;
const summaryEl = document.getElementById('summary') as HTMLElement;
const markdown = new MarkdownIt({ html: true, linkify: true });

interface StreamItem {
  name: string;
  text: StreamText;
  /** Finished lines are appended here... */
  done: HTMLElement;
  /** ...and the open last line is redrawn here. */
  open: HTMLElement;
  element: HTMLElement;
}

interface RunView {
  runId: string;
  root: HTMLElement;
  count: HTMLElement;
  title: HTMLElement;
  kernel: HTMLElement;
  state: HTMLElement;
  time: HTMLElement;
  outputs: HTMLElement;
  startedAt?: number;
  lastStream?: StreamItem;
}

const runs = new Map<string, RunView>();
/** displayId → the elements showing that display (all show its latest update). */
const displays = new Map<string, Set<HTMLElement>>();
let maxRuns = 200;

window.addEventListener('message', (e: MessageEvent<HostToWebview>) => {
  const message = e.data;
  if (message.type === 'reset') {
    maxRuns = message.maxRuns;
    clearAll();
    apply(message.events);
  } else if (message.type === 'events') {
    apply(message.events);
  } else if (message.type === 'snapshot') {
    host.postMessage({ type: 'snapshot', requestId: message.requestId, snapshot: snapshot() });
  }
});

document.getElementById('clear')?.addEventListener('click', () => host.postMessage({ type: 'clear' }));

host.postMessage({ type: 'ready' });

/**
 * Whether the view follows new output: true while the user has not scrolled up from the end.
 * Updated on scrolling only, so output (or an image that loads later) growing the page does not
 * end it.
 */
let following = true;
window.addEventListener('scroll', () => {
  following = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
});

function follow(): void {
  if (following) window.scrollTo(0, document.body.scrollHeight);
}

function apply(events: SequencedEvent[]): void {
  if (events.length === 0) return;
  for (const event of events) {
    try {
      applyOne(event);
    } catch (error) {
      // One output that cannot be drawn must not stop the ones after it.
      notice(undefined, 'error', `cannot draw an output: ${String(error)}`);
    }
  }
  emptyEl.hidden = runsEl.children.length > 1;
  summaryEl.textContent = runs.size === 1 ? '1 run' : `${runs.size} runs`;
  follow();
  host.postMessage({ type: 'rendered', seq: events[events.length - 1]!.seq });
}

function applyOne(event: SequencedEvent): void {
  switch (event.kind) {
    case 'clear':
      clearAll();
      return;
    case 'run':
      updateRun(event.runId, event.title, event.kernel, event.state, event.executionCount, event.at);
      return;
    case 'output':
      drawOutput(runFor(event.runId), event.output, event.imageSources ?? {});
      return;
    case 'input':
      drawInput(runFor(event.runId), event.prompt, event.password, event.value);
      return;
    case 'notice':
      notice(event.runId, event.severity, event.text);
      return;
  }
}

// --- runs ---------------------------------------------------------------------------------

function runFor(runId: string): RunView {
  return runs.get(runId) ?? createRun(runId);
}

function createRun(runId: string): RunView {
  const root = el('section', 'run state-other');
  root.dataset['runId'] = runId;
  const header = el('header', 'run-header');
  const view: RunView = {
    runId,
    root,
    count: el('span', 'count'),
    title: el('span', 'title'),
    kernel: el('span', 'kernel'),
    state: el('span', 'state'),
    time: el('span', 'time'),
    outputs: el('div', 'outputs'),
  };
  view.title.textContent = runId.startsWith('other:') ? 'output of another client' : 'output';
  header.append(view.count, view.title, view.kernel, view.state, view.time);
  root.append(header, view.outputs);
  runsEl.append(root);
  runs.set(runId, view);
  prune();
  return view;
}

function updateRun(runId: string, title: string, kernel: string, state: RunState, count: number | undefined, at: number): void {
  const view = runFor(runId);
  view.root.className = `run state-${state}`;
  view.title.textContent = title;
  view.title.title = title;
  view.kernel.textContent = kernel;
  view.state.textContent = state === 'other' ? '' : state;
  // Jupyter's marks: [*] waiting or running, [n] the execution count, [ ] never counted.
  if (count !== undefined) view.count.textContent = `[${count}]`;
  else if (state === 'queued' || state === 'running') view.count.textContent = '[*]';
  else if (state !== 'other') view.count.textContent = '[ ]';
  if (state === 'running') view.startedAt = at;
  if ((state === 'done' || state === 'failed') && view.startedAt !== undefined) {
    view.time.textContent = formatDuration(at - view.startedAt);
  }
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

function prune(): void {
  for (const [runId, view] of runs) {
    if (runs.size <= maxRuns) break;
    forgetDisplays(view.root);
    view.root.remove();
    runs.delete(runId);
  }
}

function clearAll(): void {
  runs.clear();
  displays.clear();
  runsEl.replaceChildren(emptyEl);
  emptyEl.hidden = false;
}

function notice(runId: string | undefined, severity: string, text: string): void {
  const item = el('div', `notice notice-${severity}`);
  item.textContent = text;
  if (runId !== undefined) {
    const view = runFor(runId);
    view.outputs.append(item);
    view.lastStream = undefined;
  } else runsEl.append(item);
}

// --- outputs ------------------------------------------------------------------------------

function drawOutput(view: RunView, output: OutputParams, imageSources: Record<string, string>): void {
  switch (output.type) {
    case 'stream':
      drawStream(view, output.content as StreamContent);
      return;
    case 'display_data':
    case 'execute_result': {
      const item = el('div', `output display ${output.type}`);
      drawDisplay(item, output.content as DisplayContent, imageSources);
      if (output.displayId !== undefined) {
        item.dataset['displayId'] = output.displayId;
        const set = displays.get(output.displayId) ?? new Set<HTMLElement>();
        set.add(item);
        displays.set(output.displayId, set);
      }
      append(view, item);
      return;
    }
    case 'update_display_data':
      // Every output showing this display shows the update (Jupyter's rule); none: nothing.
      for (const item of displays.get(output.displayId ?? '') ?? []) {
        item.replaceChildren();
        drawDisplay(item, output.content as DisplayContent, imageSources);
      }
      return;
    case 'error':
      append(view, drawError(output.content as ErrorContent));
      return;
    case 'clear_output':
      forgetDisplays(view.outputs);
      view.outputs.replaceChildren();
      view.lastStream = undefined;
      return;
    case 'truncated':
      append(view, drawTruncated(output.kernelId, output.executionId, output.content as TruncatedContent));
      return;
  }
}

function append(view: RunView, item: HTMLElement): void {
  view.outputs.append(item);
  view.lastStream = undefined;
}

/** Consecutive text of one stream is one block, with terminal semantics across chunks. */
function drawStream(view: RunView, content: StreamContent): void {
  let item = view.lastStream;
  if (!item || item.name !== content.name) {
    const element = el('pre', `output stream ${content.name === 'stderr' ? 'stderr' : 'stdout'}`);
    const done = el('span', 'lines');
    const open = el('span', 'open-line');
    element.append(done, open);
    item = { name: content.name, text: new StreamText(), done, open, element };
    view.outputs.append(element);
    view.lastStream = item;
  }
  const update = item.text.append(content.text);
  if (update.finished.length > 0) {
    const fragment = document.createDocumentFragment();
    for (const line of update.finished) {
      appendSegments(fragment, line);
      fragment.append('\n');
    }
    item.done.append(fragment);
  }
  item.open.replaceChildren();
  appendSegments(item.open, update.open);
}

function appendSegments(parent: Node, line: Line): void {
  for (const segment of line) {
    const css = styleToCss(segment.style);
    if (css.classes.length === 0 && css.color === undefined && css.background === undefined) {
      parent.appendChild(document.createTextNode(segment.text));
      continue;
    }
    const span = document.createElement('span');
    span.className = css.classes.join(' ');
    // CSSOM properties, not a style attribute: the CSP allows these.
    if (css.color !== undefined) span.style.color = css.color;
    if (css.background !== undefined) span.style.backgroundColor = css.background;
    span.textContent = segment.text;
    parent.appendChild(span);
  }
}

/** Text with ANSI colours and terminal rules, as one <pre>. */
function ansiBlock(className: string, text: string): HTMLElement {
  const pre = el('pre', className);
  const stream = new StreamText();
  const { finished, open } = stream.append(text);
  for (const line of finished) {
    appendSegments(pre, line);
    pre.append('\n');
  }
  appendSegments(pre, open);
  return pre;
}

function drawError(content: ErrorContent): HTMLElement {
  const traceback = Array.isArray(content.traceback) ? content.traceback : [];
  const text = traceback.length > 0 ? traceback.join('\n') : `${content.ename}: ${content.evalue}`;
  const item = ansiBlock('output error', text);
  item.setAttribute('role', 'alert');
  item.title = `${content.ename}: ${content.evalue}`;
  return item;
}

function drawTruncated(kernelId: string, executionId: string | undefined, content: TruncatedContent): HTMLElement {
  const item = el('div', 'output notice notice-warning truncated');
  item.append(`${content.message} `);
  if (executionId !== undefined) {
    const button = el('button', 'link');
    button.setAttribute('type', 'button');
    button.textContent = 'Open full output';
    button.addEventListener('click', () => host.postMessage({ type: 'openFullOutput', kernelId, executionId }));
    item.append(button);
  }
  return item;
}

function drawDisplay(container: HTMLElement, content: DisplayContent, imageSources: Record<string, string>): void {
  const rep = chooseRepresentation(content.data ?? {}, imageSources);
  switch (rep.kind) {
    case 'image': {
      const img = document.createElement('img');
      img.src = rep.src;
      img.dataset['mime'] = rep.mime;
      const alt = content.data?.['text/plain'];
      img.alt = typeof alt === 'string' ? alt : rep.mime;
      img.addEventListener('load', follow);
      container.append(img);
      return;
    }
    case 'html': {
      const div = el('div', 'html');
      div.append(sanitize(rep.html));
      container.append(div);
      return;
    }
    case 'markdown': {
      const div = el('div', 'markdown');
      div.append(sanitize(markdown.render(rep.markdown)));
      container.append(div);
      return;
    }
    case 'json':
      container.append(Object.assign(el('pre', 'json'), { textContent: rep.json }));
      return;
    case 'text':
      container.append(ansiBlock('text', rep.text));
      return;
    case 'empty':
      return;
  }
}

/**
 * Kernel HTML as a DOM fragment without scripts, event handlers, javascript: URLs, forms,
 * frames or styles. DOMPurify parses it in an inert document, so nothing runs while it is
 * being cleaned.
 */
function sanitize(html: string): DocumentFragment {
  return DOMPurify.sanitize(html, {
    RETURN_DOM_FRAGMENT: true,
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'frame', 'object', 'embed', 'link', 'meta', 'base'],
    FORBID_ATTR: ['style', 'srcset', 'action', 'formaction'],
    ALLOW_DATA_ATTR: false,
  });
}

function drawInput(view: RunView, prompt: string, password: boolean, value: string | null): void {
  const item = el('div', 'output input');
  const promptEl = el('span', 'prompt');
  promptEl.textContent = prompt;
  const valueEl = el('span', value === null ? 'value none' : 'value');
  valueEl.textContent = value === null ? '(no answer)' : password ? '•'.repeat(Math.min(value.length, 12)) : value;
  item.append(promptEl, valueEl);
  append(view, item);
}

function forgetDisplays(root: HTMLElement): void {
  for (const [id, set] of displays) {
    for (const item of set) if (root.contains(item)) set.delete(item);
    if (set.size === 0) displays.delete(id);
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.className = className;
  return element;
}

// --- snapshot -----------------------------------------------------------------------------

function snapshot(): PanelSnapshot {
  const tagCounts = (selector: string): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const root of runsEl.querySelectorAll(selector)) {
      for (const node of root.querySelectorAll('*')) {
        const tag = node.tagName.toLowerCase();
        counts[tag] = (counts[tag] ?? 0) + 1;
      }
    }
    return counts;
  };
  let eventHandlers = 0;
  for (const node of runsEl.querySelectorAll('*')) {
    for (const attr of Array.from(node.attributes)) if (attr.name.toLowerCase().startsWith('on')) eventHandlers++;
  }
  return {
    csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '',
    runs: [...runs.values()].map((v) => ({
      runId: v.runId,
      state: v.state.textContent ?? '',
      header: v.root.querySelector('header')?.textContent ?? '',
      text: v.outputs.innerText,
    })),
    images: [...runsEl.querySelectorAll('img')].map((img) => ({
      runId: (img.closest('section.run') as HTMLElement | null)?.dataset['runId'] ?? '',
      mime: img.dataset['mime'] ?? '',
      src: img.getAttribute('src') ?? '',
      loaded: img.complete && img.naturalWidth > 0,
      width: img.naturalWidth,
    })),
    scripts: runsEl.querySelectorAll('script').length,
    eventHandlers,
    ansiSpans: runsEl.querySelectorAll('span[class*="ansi-"]').length,
    htmlTags: tagCounts('.html'),
    markdownTags: tagCounts('.markdown'),
  };
}
