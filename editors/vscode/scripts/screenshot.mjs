// Saves a PNG of the page a headless chromium shows, through the DevTools protocol.
//   node --experimental-websocket scripts/screenshot.mjs CHROMIUM_USER_DATA_DIR OUT.png [URL_PART]
// Chromium started with --remote-debugging-port=0 writes the port it chose to
// DevToolsActivePort in its user data directory.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const [userDataDir, outFile, urlPart = 'http'] = process.argv.slice(2);
if (!userDataDir || !outFile) {
  console.error('usage: screenshot.mjs CHROMIUM_USER_DATA_DIR OUT.png [URL_PART]');
  process.exit(2);
}
const port = (await readFile(path.join(userDataDir, 'DevToolsActivePort'), 'utf8')).split('\n')[0].trim();
const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const page = targets.find((t) => t.type === 'page' && t.url.includes(urlPart));
if (!page) {
  console.error(`no page with "${urlPart}" among ${targets.map((t) => `${t.type} ${t.url}`).join(', ')}`);
  process.exit(1);
}
const socket = new WebSocket(page.webSocketDebuggerUrl);
const timer = setTimeout(() => {
  console.error('no screenshot within 20 s');
  process.exit(1);
}, 20000);
let nextId = 1;
const pending = new Map();
socket.addEventListener('message', (event) => {
  const message = JSON.parse(typeof event.data === 'string' ? event.data : event.data.toString());
  pending.get(message.id)?.(message);
  pending.delete(message.id);
});
const send = (method, params = {}) =>
  new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    socket.send(JSON.stringify({ id, method, params }));
  });
await new Promise((resolve) => socket.addEventListener('open', resolve));

// The mouse rests over the file explorer, and no hover is left over the workbench.
await send('Input.dispatchMouseEvent', { type: 'mouseMoved', x: 150, y: 600 });
const hoverShown = `!!document.querySelector('.workbench-hover-container, .monaco-hover:not(.hidden)')`;
for (let i = 0; i < 40; i++) {
  const r = await send('Runtime.evaluate', { expression: hoverShown, returnByValue: true });
  if (!r.result?.result?.value) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}

const shot = await send('Page.captureScreenshot', { format: 'png' });
if (!shot.result) {
  console.error(`screenshot failed: ${JSON.stringify(shot.error)}`);
  process.exit(1);
}
await writeFile(outFile, Buffer.from(shot.result.data, 'base64'));
clearTimeout(timer);
socket.close();
process.exit(0);
