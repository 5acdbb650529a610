import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applySgr, color256, stripAnsi, styleToCss, tokenize } from '../../src/ansi';

test('tokenize splits text, controls and CSI sequences', () => {
  const { tokens, rest } = tokenize('a\x1b[31mb\r\n\tc\x07');
  assert.deepEqual(tokens, [
    { kind: 'text', text: 'a' },
    { kind: 'csi', params: '31', final: 'm' },
    { kind: 'text', text: 'b' },
    { kind: 'control', char: '\r' },
    { kind: 'control', char: '\n' },
    { kind: 'text', text: '\tc' },
  ]);
  assert.equal(rest, '');
});

test('an escape sequence cut at the end is kept for the next chunk', () => {
  assert.deepEqual(tokenize('x\x1b[3'), { tokens: [{ kind: 'text', text: 'x' }], rest: '\x1b[3' });
  assert.deepEqual(tokenize('x\x1b'), { tokens: [{ kind: 'text', text: 'x' }], rest: '\x1b' });
  assert.deepEqual(tokenize('\x1b]0;title'), { tokens: [], rest: '\x1b]0;title' });
});

test('OSC sequences and broken CSI sequences are dropped', () => {
  assert.equal(stripAnsi('\x1b]8;;http://x\x07link\x1b]8;;\x07'), 'link');
  assert.equal(stripAnsi('a\x1b[12\nb'), 'a\nb');
});

test('SGR codes build a style; 0 resets it', () => {
  let s = applySgr({}, '1;31');
  assert.deepEqual(s, { bold: true, fg: { palette: 1 } });
  s = applySgr(s, '44;22');
  assert.deepEqual(s, { fg: { palette: 1 }, bg: { palette: 4 } });
  assert.deepEqual(applySgr(s, ''), {});
  assert.deepEqual(applySgr(s, '0'), {});
  assert.deepEqual(applySgr({}, '92'), { fg: { palette: 10 } });
  assert.deepEqual(applySgr({ fg: { palette: 2 } }, '39'), {});
});

test('256-colour and true-colour codes', () => {
  assert.deepEqual(applySgr({}, '38;5;1'), { fg: { palette: 1 } });
  assert.deepEqual(applySgr({}, '38;5;208'), { fg: color256(208) });
  assert.deepEqual(color256(208), { rgb: [255, 135, 0] });
  assert.deepEqual(color256(244), { rgb: [128, 128, 128] });
  assert.deepEqual(applySgr({}, '48;2;10;20;300;1'), { bg: { rgb: [10, 20, 255] }, bold: true });
});

test('styles become classes and CSSOM colours; inverse swaps them', () => {
  assert.deepEqual(styleToCss({ fg: { palette: 1 }, bold: true }), { classes: ['ansi-fg-1', 'ansi-bold'] });
  assert.deepEqual(styleToCss({ bg: { rgb: [1, 2, 3] } }), { classes: [], background: 'rgb(1, 2, 3)' });
  assert.deepEqual(styleToCss({ inverse: true }), { classes: ['ansi-fg-inverse', 'ansi-bg-inverse'] });
  assert.deepEqual(styleToCss({ inverse: true, fg: { palette: 3 } }), { classes: ['ansi-fg-inverse', 'ansi-bg-3'] });
});
