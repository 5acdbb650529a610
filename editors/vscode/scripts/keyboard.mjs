// A person at the keyboard, for the self-test's real quick pick and input boxes: watches the
// workbench in headless chromium (DevTools protocol) for the extension's boxes and answers them
// by typing, as a person would:
// - the quick pick "Kernelbridge: select a kernel": records its rows, types "ipykernel" to
//   filter them, presses Enter (starts the Python 3 (ipykernel) kernelspec);
// - an input box "Input for …": records the <input>'s type ("password" for getpass), types an
//   answer, presses Enter.
// Writes what it saw to OUT.json after COUNT boxes.
//
//   node --experimental-websocket scripts/keyboard.mjs CHROMIUM_USER_DATA_DIR URL_PART OUT.json COUNT SECONDS
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const [userDataDir, urlPart, outFile, count = '2', seconds = '240'] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function pageSocket() {
  for (;;) {
    try {
      const port = (await readFile(path.join(userDataDir, 'DevToolsActivePort'), 'utf8')).split('\n')[0].trim();
      const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      const page = targets.find((t) => t.type === 'page' && t.url.includes(urlPart));
      if (page) return new WebSocket(page.webSocketDebuggerUrl);
    } catch {
      // chromium is not up yet
    }
    if (Date.now() > deadline) throw new Error('no workbench page');
    await sleep(250);
  }
}

const socket = await pageSocket();
await new Promise((resolve, reject) => {
  socket.addEventListener('open', resolve);
  socket.addEventListener('error', reject);
});
let nextId = 1;
const pending = new Map();
socket.addEventListener('message', (event) => {
  const message = JSON.parse(event.data);
  const waiter = pending.get(message.id);
  if (waiter) {
    pending.delete(message.id);
    if (message.error) waiter.reject(new Error(JSON.stringify(message.error)));
    else waiter.resolve(message.result);
  }
});
function send(method, params = {}) {
  const id = nextId++;
  socket.send(JSON.stringify({ id, method, params }));
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}
async function evaluate(expression) {
  const r = await send('Runtime.evaluate', { expression, returnByValue: true });
  return r.result.value;
}

// The extension's box, if one is up: its kind, title, rows (quick pick) or input type.
const probe = `(() => {
  const w = document.querySelector('.quick-input-widget');
  if (!w || w.style.display === 'none' || w.offsetParent === null) return null;
  const title = w.querySelector('.quick-input-title')?.textContent ?? '';
  const input = w.querySelector('.quick-input-box input');
  if (!input) return null;
  const rows = [...w.querySelectorAll('.quick-input-list .monaco-list-row')].map((r) => r.getAttribute('aria-label') ?? '');
  if (title.startsWith('Kernelbridge: select a kernel')) return { kind: 'pick', title, rows, filter: input.value };
  if (title.startsWith('Input for')) return { kind: 'input', title, type: input.type, value: input.value, message: w.querySelector('.quick-input-message')?.textContent ?? '' };
  return null;
})()`;
const focusInput = `document.querySelector('.quick-input-widget .quick-input-box input')?.focus()`;

async function pressEnter() {
  for (const type of ['keyDown', 'keyUp']) {
    await send('Input.dispatchKeyEvent', { type, key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13, nativeVirtualKeyCode: 13 });
  }
}

const seen = [];
const answers = { text: 'Grace', password: 'hunter22' };
try {
  while (seen.length < Number(count)) {
    if (Date.now() > deadline) throw new Error(`saw ${seen.length} of ${count} boxes`);
    const box = await evaluate(probe);
    if (!box) {
      await sleep(100);
      continue;
    }
    await evaluate(focusInput);
    let typed;
    if (box.kind === 'pick') {
      typed = 'ipykernel';
      await send('Input.insertText', { text: typed });
      // Enter once the list shows only what matches.
      let now = box;
      while (now && (now.filter !== 'ipykernel' || now.rows.length === 0 || !now.rows.every((r) => r.includes('ipykernel'))) && Date.now() < deadline) {
        await sleep(50);
        now = await evaluate(probe);
      }
      seen.push({ ...box, picked: now?.rows[0] ?? null });
    } else {
      seen.push(box);
      typed = answers[box.type] ?? 'answer';
      await send('Input.insertText', { text: typed });
    }
    await pressEnter();
    // Wait for this box to go before looking for the next one. The next box may open in
    // the same widget before a poll sees it closed (input() then getpass()): a box whose
    // text is no longer what we typed is another one.
    for (;;) {
      const now = await evaluate(probe);
      if (!now || (now.kind === 'pick' ? now.filter : now.value) !== typed || Date.now() > deadline) break;
      await sleep(50);
    }
  }
  await writeFile(outFile, JSON.stringify({ ok: true, seen }, null, 2));
} catch (error) {
  await writeFile(outFile, JSON.stringify({ ok: false, seen, error: String(error) }, null, 2));
}
socket.close();
process.exit(0);
