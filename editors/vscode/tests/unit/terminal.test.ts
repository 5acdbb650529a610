import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lineText, renderPlain, StreamText } from '../../src/terminal';

const texts = (lines: { text: string }[][]): string[] => lines.map((l) => l.map((s) => s.text).join(''));

test('finished lines are handed out once; the open line each time', () => {
  const s = new StreamText();
  let u = s.append('one\ntw');
  assert.deepEqual(texts(u.finished), ['one']);
  assert.equal(lineText(u.open), 'tw');
  u = s.append('o\nthree\n');
  assert.deepEqual(texts(u.finished), ['two', 'three']);
  assert.equal(lineText(u.open), '');
});

test('\\r overwrites the line character by character, across chunks', () => {
  const s = new StreamText();
  s.append('progress 10%');
  let u = s.append('\rprogress 100%');
  assert.equal(lineText(u.open), 'progress 100%');
  u = s.append('\rdone');
  assert.equal(lineText(u.open), 'doneress 100%');
  u = s.append('\n');
  assert.deepEqual(texts(u.finished), ['doneress 100%']);
});

test('the daemon\'s merged progress bar: "\\r2/2 ok\\n"', () => {
  assert.equal(renderPlain('\r0/2\r1/2\r2/2 ok\n'), '2/2 ok\n');
});

test('\\r\\n ends a line without erasing it', () => {
  assert.equal(renderPlain('a\r\nb\r\n'), 'a\nb\n');
});

test('\\b moves back one character (not past the line start)', () => {
  assert.equal(renderPlain('abc\b\bX'), 'aXc');
  assert.equal(renderPlain('a\b\b\bZ'), 'Z');
});

test('ESC[K erases to the end of the line; ESC[2K the whole line', () => {
  assert.equal(renderPlain('hello\r\x1b[Kbye'), 'bye');
  assert.equal(renderPlain('hello\x1b[2K\rX'), 'X');
});

test('colours carry over lines and chunks, also when an escape is split', () => {
  const s = new StreamText();
  s.append('a\x1b[3');
  const u = s.append('1mred\nstill\x1b[0m plain');
  assert.deepEqual(u.finished[0], [
    { text: 'a', style: {} },
    { text: 'red', style: { fg: { palette: 1 } } },
  ]);
  assert.deepEqual(u.open, [
    { text: 'still', style: { fg: { palette: 1 } } },
    { text: ' plain', style: {} },
  ]);
});

test('overwriting keeps each character\'s own colour', () => {
  const s = new StreamText();
  const u = s.append('\x1b[32mgreen\x1b[0m\rRE');
  assert.deepEqual(u.open, [
    { text: 'RE', style: {} },
    { text: 'een', style: { fg: { palette: 2 } } },
  ]);
});

test('characters outside the BMP are one cell', () => {
  assert.equal(renderPlain('😀x\bY'), '😀Y');
});
