// Bundles the extension with esbuild so the .vsix is self-contained (no node_modules at run
// time): dist/extension.js for the extension host (Node, CommonJS, `vscode` external),
// dist/webview.js + dist/webview.css for the output panel (browser). With --tests, also the
// unit tests to out/test/ (Node), which import the pure modules of src/.
//
//   node scripts/build.mjs [--tests] [--dev]
import * as esbuild from 'esbuild';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = new Set(process.argv.slice(2));
const dev = args.has('--dev');

await rm(path.join(root, 'dist'), { recursive: true, force: true });
await mkdir(path.join(root, 'dist'), { recursive: true });

const common = { bundle: true, sourcemap: dev ? 'inline' : false, minify: !dev, logLevel: 'warning', legalComments: 'none' };

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: [path.join(root, 'src/extension.ts')],
    outfile: path.join(root, 'dist/extension.js'),
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    external: ['vscode'],
  }),
  esbuild.build({
    ...common,
    entryPoints: [path.join(root, 'src/webview/main.ts')],
    outfile: path.join(root, 'dist/webview.js'),
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
  }),
  copyFile(path.join(root, 'src/webview/style.css'), path.join(root, 'dist/webview.css')),
]);

if (args.has('--tests')) {
  const dir = path.join(root, 'tests/unit');
  const tests = (await readdir(dir)).filter((f) => f.endsWith('.test.ts'));
  await rm(path.join(root, 'out'), { recursive: true, force: true });
  await esbuild.build({
    ...common,
    minify: false,
    sourcemap: 'inline',
    entryPoints: tests.map((f) => path.join(dir, f)),
    outdir: path.join(root, 'out/test'),
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    external: ['vscode'],
  });
}
