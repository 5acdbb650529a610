// The end-to-end self-test, run inside a real VS Code extension host by editors/vscode/test
// when KERNELBRIDGE_SELFTEST_OUT names a file. It drives the extension the way a person does —
// its commands, the daemon's code lenses, VS Code's own completion and hover providers — against
// a real daemon and ipykernel, and checks what the output panel's webview really drew (the
// webview reports its DOM). The results go to that file as JSON; progress to <file>.log.
//
// The workspace (made by the test script) holds demo.py, scratch.py and cells.py.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Extension } from './extension';
import { errorText, recentMessages } from './messages';
import type { PanelSnapshot } from './panelMessages';
import type { CellRunResult, Kernel, MultiRunResult } from './protocol';

interface Check {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export async function runSelfTest(ext: Extension, outFile: string): Promise<void> {
  const checks: Check[] = [];
  const began = Date.now();
  const logFile = `${outFile}.log`;
  const log = (line: string): void => {
    fs.appendFileSync(logFile, `${((Date.now() - began) / 1000).toFixed(1)}s ${line}\n`);
  };

  async function check(name: string, body: () => Promise<string>, timeoutMs = 45000): Promise<boolean> {
    const t0 = Date.now();
    log(`begin: ${name}`);
    try {
      const detail = await withTimeout(body(), timeoutMs, name);
      checks.push({ name, ok: true, ms: Date.now() - t0, detail });
      log(`ok: ${name} (${detail})`);
      return true;
    } catch (error) {
      const messages = recentMessages().slice(-3).map((m) => `${m.severity}: ${m.text}`);
      const detail = errorText(error) + (messages.length ? ` [last messages: ${messages.join(' | ')}]` : '');
      checks.push({ name, ok: false, ms: Date.now() - t0, detail });
      log(`FAILED: ${name}: ${detail}`);
      return false;
    }
  }

  try {
    const folder = vscode.workspace.workspaceFolders?.[0];
    if (!folder) throw new Error('no workspace folder');
    const demo = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, 'demo.py'));
    const scratch = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, 'scratch.py'));
    const cells = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, 'cells.py'));
    const show = (doc: vscode.TextDocument, line: number, endLine?: number): Promise<vscode.TextEditor> =>
      Promise.resolve(vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preserveFocus: false })).then((editor) => {
        const end = endLine === undefined ? new vscode.Position(line, 0) : new vscode.Position(endLine, doc.lineAt(endLine).text.length);
        editor.selection = new vscode.Selection(new vscode.Position(line, 0), end);
        return editor;
      });
    const cellLine = (doc: vscode.TextDocument, marker: string): number => {
      for (let i = 0; i < doc.lineCount; i++) if (doc.lineAt(i).text.startsWith(`# %% ${marker}`)) return i;
      throw new Error(`no cell "${marker}" in ${path.basename(doc.uri.path)}`);
    };
    const lineWith = (doc: vscode.TextDocument, text: string): number => {
      for (let i = 0; i < doc.lineCount; i++) if (doc.lineAt(i).text.includes(text)) return i;
      throw new Error(`no line with "${text}"`);
    };
    const panelShows = (what: string, ok: (s: PanelSnapshot) => boolean, timeoutMs = 30000): Promise<PanelSnapshot> =>
      waitFor(what, timeoutMs, async () => {
        const s = await ext.panel.snapshot().catch(() => undefined);
        return s && ok(s) ? s : undefined;
      });
    const runWith = (s: PanelSnapshot, text: string) => s.runs.filter((r) => r.text.includes(text));

    await check('the daemon runs and serves python documents', async () => {
      await ext.daemon.ensure();
      if (!ext.daemon.servedLanguages.includes('python')) throw new Error(`served: ${ext.daemon.servedLanguages.join(', ')}`);
      await show(demo, 0);
      await waitFor('status bar "No kernel"', 5000, () => (ext.statusBar.text.includes('No kernel') ? true : undefined));
      return `pid ${ext.daemon.pid}, languages ${ext.daemon.servedLanguages.join(', ')}; status bar "${ext.statusBar.text}"`;
    });

    let kernel: Kernel | undefined;
    const keyboard = !!process.env['KERNELBRIDGE_SELFTEST_KEYBOARD'];
    await check(`select kernel${keyboard ? ' (quick pick, typed in the browser)' : ''}: python3 starts, status bar shows it idle`, async () => {
      await show(demo, 0);
      // With the test's keyboard, the quick pick is answered by typing "ipykernel", Enter.
      kernel = await vscode.commands.executeCommand<Kernel | undefined>('kernelbridge.selectKernel', ...(keyboard ? [] : ['python3']));
      if (!kernel) throw new Error('no kernel started');
      await waitFor('status bar idle', 10000, () => (ext.statusBar.text.includes('idle') ? true : undefined));
      return `${kernel.displayName} ${kernel.kernelId.slice(0, 8)}; status bar "${ext.statusBar.text}"`;
    });

    await check('run cell: printed output reaches the webview', async () => {
      await show(demo, cellLine(demo, 'Hello') + 1);
      const result = await vscode.commands.executeCommand<CellRunResult>('kernelbridge.runCell');
      if (result?.status !== 'ok') throw new Error(`run: ${JSON.stringify(result)}`);
      const s = await panelShows('"hello from kernelbridge" drawn, run done', (s) => runWith(s, 'hello from kernelbridge').some((r) => r.state === 'done'));
      await withTimeout(ext.panel.whenRendered(ext.panel.runs.lastSeq), 10000, 'rendered ack');
      const csp = s.csp;
      for (const part of ["default-src 'none'", "script-src 'nonce-", 'img-src ']) {
        if (!csp.includes(part)) throw new Error(`CSP lacks ${part}: ${csp}`);
      }
      if (/unsafe-inline|unsafe-eval/.test(csp)) throw new Error(`CSP too loose: ${csp}`);
      return `header "${runWith(s, 'hello from kernelbridge')[0]!.header}"; CSP "${csp}"`;
    });

    await check('output streams into the webview while the cell runs; \\r rewrites the line', async () => {
      await show(demo, cellLine(demo, 'Stream') + 1);
      const run = Promise.resolve(vscode.commands.executeCommand<CellRunResult>('kernelbridge.runCell'));
      const early = await panelShows('"tick 0" drawn while the run is running', (s) =>
        runWith(s, 'tick 0').some((r) => r.state === 'running' && !r.text.includes('tick 2')),
      );
      const result = await withTimeout(run, 20000, 'the streaming run');
      if (result?.status !== 'ok') throw new Error(`run: ${JSON.stringify(result)}`);
      const done = await panelShows('the whole output drawn', (s) => runWith(s, 'tick 2').some((r) => r.state === 'done' && r.text.includes('progress 3/3 done')));
      const text = runWith(done, 'tick 2').find((r) => r.state === 'done')!.text;
      if (text.includes('progress 1/3') || text.includes('progress 2/3')) throw new Error(`\\r did not rewrite the line: ${JSON.stringify(text)}`);
      return `while running: ${JSON.stringify(runWith(early, 'tick 0')[0]!.text.trim())}; at the end: ${JSON.stringify(text.trim())}`;
    });

    await check('code lens "Run cell": ANSI colours, sanitized HTML, Markdown', async () => {
      const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', demo.uri);
      const titles = lenses.map((l) => l.command?.title);
      const line = cellLine(demo, 'Rich');
      const lens = lenses.find((l) => l.range.start.line === line && l.command?.title === 'Run cell');
      if (!lens?.command) throw new Error(`no "Run cell" lens on line ${line}: ${JSON.stringify(titles)}`);
      await vscode.commands.executeCommand(lens.command.command, ...(lens.command.arguments ?? []));
      const s = await panelShows('rich outputs drawn', (s) => runWith(s, 'red and bold green').some((r) => r.state === 'done') && (s.markdownTags['h2'] ?? 0) > 0);
      if (s.ansiSpans === 0) throw new Error('no ANSI-coloured span');
      if ((s.htmlTags['b'] ?? 0) === 0) throw new Error(`no <b> from the HTML output: ${JSON.stringify(s.htmlTags)}`);
      if (s.scripts !== 0 || s.eventHandlers !== 0) throw new Error(`unsanitized: ${s.scripts} scripts, ${s.eventHandlers} on* attributes`);
      return `${lenses.length} lenses (${[...new Set(titles)].join(', ')}); ${s.ansiSpans} ANSI spans; html ${JSON.stringify(s.htmlTags)}; markdown ${JSON.stringify(s.markdownTags)}`;
    });

    await check('code lens "Run above": the cells above run, PNG and SVG images are drawn', async () => {
      const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', demo.uri);
      const line = cellLine(demo, 'Error');
      const lens = lenses.find((l) => l.range.start.line === line && l.command?.title === 'Run above');
      if (!lens?.command) throw new Error(`no "Run above" lens on line ${line}`);
      const result = (await vscode.commands.executeCommand(lens.command.command, ...(lens.command.arguments ?? []))) as MultiRunResult | undefined;
      if (!result || result.cells.some((c) => c.status !== 'ok')) throw new Error(`run above: ${JSON.stringify(result?.cells.map((c) => c.status))}`);
      const s = await panelShows('PNG and SVG images loaded', (s) => ['image/png', 'image/svg+xml'].every((m) => s.images.some((i) => i.mime === m && i.loaded)));
      const images = s.images.filter((i) => i.mime !== '');
      return `${result.cells.length} cells ok; images ${images.map((i) => `${i.mime} ${i.width}px from ${i.src.slice(0, 40)}…`).join('; ')}`;
    });

    await check('an error is drawn readably and becomes a diagnostic', async () => {
      await show(demo, cellLine(demo, 'Error') + 1);
      const result = await vscode.commands.executeCommand<CellRunResult>('kernelbridge.runCell');
      if (result?.status !== 'error') throw new Error(`run: ${JSON.stringify(result)}`);
      const s = await panelShows('ZeroDivisionError drawn, run failed', (s) => runWith(s, 'ZeroDivisionError').some((r) => r.state === 'failed'));
      const errorLine = lineWith(demo, '1 / 0');
      const diagnostic = await waitFor('a kernelbridge diagnostic', 10000, () =>
        vscode.languages.getDiagnostics(demo.uri).find((d) => d.source === 'kernelbridge' && d.range.start.line === errorLine),
      );
      const text = runWith(s, 'ZeroDivisionError')[0]!.text;
      return `diagnostic "${diagnostic.message}" on line ${errorLine + 1}; drawn: ${JSON.stringify(text.split('\n').filter((l) => l.trim()).slice(-1)[0])}`;
    });

    await check('completion from the kernel (vscode.executeCompletionItemProvider)', async () => {
      const line = lineWith(scratch, 'kb_ns.dy');
      const position = new vscode.Position(line, scratch.lineAt(line).text.length);
      const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', scratch.uri, position);
      const labels = list.items.map((i) => (typeof i.label === 'string' ? i.label : i.label.label));
      // dyn_attr exists only in the kernel (made with setattr), in no document.
      if (!labels.includes('dyn_attr')) throw new Error(`no dyn_attr among ${labels.length} items: ${labels.slice(0, 20).join(', ')}`);
      return `${labels.length} items, including dyn_attr`;
    });

    await check('hover from the kernel (vscode.executeHoverProvider)', async () => {
      const line = lineWith(scratch, 'len(');
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', scratch.uri, new vscode.Position(line, 1));
      const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      if (!text.includes('Return the number of items')) throw new Error(`hover: ${JSON.stringify(text.slice(0, 300))}`);
      return JSON.stringify(text.split('\n').find((l) => l.includes('Return the number')));
    });

    await check('input() and getpass() are answered through the input box (password hidden)', async () => {
      const asked: Array<{ prompt: string; password: boolean }> = [];
      const answers = ['Ada', 's3cret'];
      const previous = ext.input.prompter;
      ext.input.prompter = async (request) => {
        asked.push({ prompt: request.prompt, password: request.password });
        return answers.shift();
      };
      try {
        await show(demo, cellLine(demo, 'Input') + 1);
        const result = await vscode.commands.executeCommand<CellRunResult>('kernelbridge.runCell');
        if (result?.status !== 'ok') throw new Error(`run: ${JSON.stringify(result)}`);
      } finally {
        ext.input.prompter = previous;
      }
      const expected = [
        { prompt: 'name: ', password: false },
        { prompt: 'password: ', password: true },
      ];
      if (JSON.stringify(asked) !== JSON.stringify(expected)) throw new Error(`asked ${JSON.stringify(asked)}`);
      const s = await panelShows('the answers reached the kernel', (s) => runWith(s, 'hello Ada, your secret has 6 characters').length > 0);
      const text = runWith(s, 'hello Ada')[0]!.text;
      if (text.includes('s3cret')) throw new Error('the password is shown in the panel');
      if (!text.includes('name: Ada') || !text.includes('password: ••••••')) throw new Error(`prompts not drawn: ${JSON.stringify(text)}`);
      return `asked ${JSON.stringify(asked)}`;
    });

    if (keyboard) {
      // The test script types into VS Code's real input box (scripts/keyboard.mjs) and checks
      // that the getpass box hides what is typed; here: the answers reach the kernel.
      await check('input() and getpass() through the real input box, typed in the browser', async () => {
        await show(demo, cellLine(demo, 'Input') + 1);
        const result = await vscode.commands.executeCommand<CellRunResult>('kernelbridge.runCell');
        if (result?.status !== 'ok') throw new Error(`run: ${JSON.stringify(result)}`);
        const s = await panelShows('the typed answers reached the kernel', (s) => runWith(s, 'hello Grace, your secret has 8 characters').length > 0);
        if (runWith(s, 'hello Grace')[0]!.text.includes('hunter22')) throw new Error('the password is shown in the panel');
        return 'the kernel printed "hello Grace, your secret has 8 characters"';
      });
    }

    await check('an input the kernel stops waiting for (interrupt) is withdrawn', async () => {
      let asked = false;
      let withdrawn = false;
      const previous = ext.input.prompter;
      // Never answers; resolves when the daemon cancels the request ($/cancelRequest).
      ext.input.prompter = (_request, token) => {
        asked = true;
        return new Promise((resolve) => {
          token.onCancellationRequested(() => {
            withdrawn = true;
            resolve(undefined);
          });
        });
      };
      try {
        await show(demo, cellLine(demo, 'Input') + 1);
        const run = Promise.resolve(vscode.commands.executeCommand<CellRunResult>('kernelbridge.runCell'));
        await waitFor('the input request', 15000, () => (asked ? true : undefined));
        await vscode.commands.executeCommand('kernelbridge.interruptKernel');
        const result = await withTimeout(run, 20000, 'the interrupted run');
        if (result?.error?.ename !== 'KeyboardInterrupt') throw new Error(`run: ${JSON.stringify(result)}`);
        await waitFor('the request withdrawn', 10000, () => (withdrawn ? true : undefined));
      } finally {
        ext.input.prompter = previous;
      }
      return 'the prompt was cancelled by the daemon, the run ended with KeyboardInterrupt';
    });

    await check('interrupt stops a busy loop', async () => {
      await show(demo, cellLine(demo, 'Busy') + 1);
      const run = Promise.resolve(vscode.commands.executeCommand<CellRunResult>('kernelbridge.runCell'));
      const k = kernel!;
      await waitFor('kernel busy', 15000, () => (ext.kernels.get(k.kernelId)?.state === 'busy' ? true : undefined));
      await sleep(300); // inside the loop, not in its first bytecodes
      const interrupted = await vscode.commands.executeCommand<boolean>('kernelbridge.interruptKernel');
      if (!interrupted) throw new Error('interrupt failed');
      const result = await withTimeout(run, 20000, 'the interrupted run');
      if (result?.status !== 'error' || result.error?.ename !== 'KeyboardInterrupt') throw new Error(`run: ${JSON.stringify(result)}`);
      await panelShows('KeyboardInterrupt drawn', (s) => runWith(s, 'KeyboardInterrupt').some((r) => r.state === 'failed'));
      return `run ended ${result.status} ${result.error.ename}`;
    });

    await check('run file (all cells) and run line', async () => {
      await show(cells, 0);
      const all = await vscode.commands.executeCommand<MultiRunResult>('kernelbridge.runFile');
      if (!all || all.cells.length !== 2 || all.cells.some((c) => c.status !== 'ok')) throw new Error(`run file: ${JSON.stringify(all)}`);
      await show(scratch, lineWith(scratch, 'line ran'));
      const line = await vscode.commands.executeCommand<CellRunResult>('kernelbridge.runLine');
      if (line?.status !== 'ok') throw new Error(`run line: ${JSON.stringify(line)}`);
      await panelShows('both outputs drawn', (s) => runWith(s, 'all cells 42').length > 0 && runWith(s, 'line ran 42').length > 0);
      return `${all.cells.length} cells, then one line`;
    });

    await check('connect to a connection file, then shut down (disconnect)', async () => {
      await show(cells, 0);
      const connected = await vscode.commands.executeCommand<Kernel | undefined>('kernelbridge.connectKernel', kernel!.connectionFile);
      if (!connected || connected.owned) throw new Error(`connect: ${JSON.stringify(connected)}`);
      await waitFor('status bar shows the connected kernel', 5000, () => (ext.kernels.kernelFor(cells.uri.toString())?.kernelId === connected.kernelId ? true : undefined));
      const before = recentMessages().length;
      if (!(await vscode.commands.executeCommand<boolean>('kernelbridge.shutdownKernel'))) throw new Error('shutdown failed');
      await waitFor('status bar "No kernel"', 5000, () => (ext.statusBar.text.includes('No kernel') ? true : undefined));
      if (recentMessages().length !== before) throw new Error(`a shutdown asked for was reported: ${recentMessages().slice(-1)[0]!.text}`);
      if (ext.kernels.get(kernel!.kernelId)?.state !== 'idle') throw new Error('the started kernel did not survive the disconnect');
      return `connected to ${path.basename(kernel!.connectionFile)} as ${connected.kernelId.slice(0, 8)}, disconnected`;
    });

    await check('a kernel that dies is reported; restart brings it back', async () => {
      await show(scratch, lineWith(scratch, 'os._exit'), lineWith(scratch, 'os._exit'));
      await vscode.commands.executeCommand('kernelbridge.runSelection');
      const message = await waitFor('a "died" message', 15000, () => recentMessages().find((m) => m.text.includes('died')));
      await waitFor('status bar dead', 5000, () => (ext.statusBar.text.includes('dead') ? true : undefined));
      const deadText = ext.statusBar.text;
      const restarted = await vscode.commands.executeCommand<Kernel | undefined>('kernelbridge.restartKernel');
      if (restarted?.state !== 'idle') throw new Error(`restart: ${JSON.stringify(restarted?.state)}`);
      await waitFor('status bar idle', 5000, () => (ext.statusBar.text.includes('idle') ? true : undefined));
      return `message "${message.text}"; status bar "${deadText}" then "${ext.statusBar.text}"`;
    });

    await check('a daemon that dies is reported; the next run starts a new one', async () => {
      const pid = ext.daemon.pid;
      if (pid === undefined) throw new Error('no daemon pid');
      process.kill(pid, 'SIGKILL');
      const message = await waitFor('a "daemon exited" message', 10000, () => recentMessages().find((m) => m.text.includes('daemon exited')));
      await waitFor('status bar "stopped"', 5000, () => (ext.statusBar.text.includes('stopped') ? true : undefined));
      const stoppedText = ext.statusBar.text;
      await show(demo, cellLine(demo, 'Hello') + 1);
      const result = await vscode.commands.executeCommand<CellRunResult>('kernelbridge.runCell');
      if (result?.status !== 'ok') throw new Error(`run after the restart: ${JSON.stringify(result)}`);
      if (ext.daemon.pid === pid || ext.daemon.pid === undefined) throw new Error('no new daemon');
      await panelShows('the new run drawn', (s) => runWith(s, 'hello from kernelbridge').filter((r) => r.state === 'done').length >= 2);
      return `message "${message.text}"; status bar "${stoppedText}"; new daemon pid ${ext.daemon.pid}`;
    });

    await check('a figure from the new kernel, for the screenshot', async () => {
      await show(demo, cellLine(demo, 'Figure') + 1);
      const result = await vscode.commands.executeCommand<CellRunResult>('kernelbridge.runCell');
      if (result?.status !== 'ok') throw new Error(`run: ${JSON.stringify(result)}`);
      await panelShows('the figure loaded', (s) => s.images.filter((i) => i.mime === 'image/png' && i.loaded).length >= 2);
      await waitFor('status bar idle', 5000, () => (ext.statusBar.text.includes('idle') ? true : undefined));
      await vscode.commands.executeCommand('notifications.clearAll');
      await show(demo, cellLine(demo, 'Figure') + 1);
      ext.panel.show(true);
      return `status bar "${ext.statusBar.text}"`;
    });
  } catch (error) {
    checks.push({ name: 'self-test set-up', ok: false, ms: 0, detail: errorText(error) });
  } finally {
    const result = { ok: checks.length > 0 && checks.every((c) => c.ok), ms: Date.now() - began, checks };
    // Written whole, then renamed: the test script never reads half a file.
    fs.writeFileSync(`${outFile}.tmp`, JSON.stringify(result, null, 2));
    fs.renameSync(`${outFile}.tmp`, outFile);
    log('done');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `probe` until it returns something other than undefined, or fails after `ms`. */
async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}
