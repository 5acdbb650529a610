import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseRepresentation, dataUrl, drawnMimeTypes } from '../../src/mime';

test('an image file wins over everything', () => {
  const rep = chooseRepresentation({ 'text/plain': '<Figure>', 'text/html': '<b>x</b>' }, { 'image/png': 'https://file/x.png' });
  assert.deepEqual(rep, { kind: 'image', mime: 'image/png', src: 'https://file/x.png' });
});

test('inline image data becomes a data: URL (base64, or the SVG text)', () => {
  assert.deepEqual(chooseRepresentation({ 'image/png': 'iVBO\nRw==' }), { kind: 'image', mime: 'image/png', src: 'data:image/png;base64,iVBORw==' });
  assert.equal(dataUrl('image/svg+xml', '<svg/>'), 'data:image/svg+xml;charset=utf-8,%3Csvg%2F%3E');
});

test('html, then markdown, then json, then plain text', () => {
  assert.equal(chooseRepresentation({ 'text/plain': 'p', 'text/html': 'h', 'text/markdown': 'm' }).kind, 'html');
  assert.equal(chooseRepresentation({ 'text/plain': 'p', 'text/markdown': 'm' }).kind, 'markdown');
  assert.deepEqual(chooseRepresentation({ 'text/plain': 'p', 'application/json': { a: 1 } }), { kind: 'json', json: '{\n  "a": 1\n}' });
  assert.deepEqual(chooseRepresentation({ 'text/plain': ['a', 'b'] }), { kind: 'text', text: 'ab' });
});

test('a bundle of types the panel does not draw says what it held', () => {
  assert.deepEqual(chooseRepresentation({ 'application/vnd.jupyter.widget-view+json': {} }), {
    kind: 'text',
    text: '[application/vnd.jupyter.widget-view+json]',
  });
  assert.deepEqual(chooseRepresentation({}), { kind: 'empty' });
});

test('the daemon is asked for what the panel draws, text/plain last', () => {
  assert.equal(drawnMimeTypes[0], 'image/png');
  assert.equal(drawnMimeTypes[drawnMimeTypes.length - 1], 'text/plain');
});
