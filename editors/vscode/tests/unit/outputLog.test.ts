import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutputLog, runTitle } from '../../src/outputLog';
import type { PanelEvent } from '../../src/panelMessages';
import type { OutputParams } from '../../src/protocol';

const run = (runId: string, state: 'queued' | 'running' | 'done' | 'failed'): PanelEvent => ({ kind: 'run', runId, title: runId, kernel: 'k', state, at: 0 });
const stream = (runId: string, text: string): PanelEvent => ({
  kind: 'output',
  runId,
  output: { kernelId: 'k', executionId: runId, seq: 1, type: 'stream', content: { name: 'stdout', text } } as OutputParams,
});

test('events are numbered in order and kept for a new webview', () => {
  const log = new OutputLog(10);
  assert.equal(log.push(run('a', 'queued')).seq, 1);
  assert.equal(log.push(stream('a', 'x')).seq, 2);
  assert.equal(log.lastSeq, 2);
  assert.deepEqual(log.all().map((e) => e.seq), [1, 2]);
});

test('run states are followed; unfinished runs are listed', () => {
  const log = new OutputLog(10);
  log.push(run('a', 'queued'));
  log.push(run('b', 'queued'));
  log.push(run('a', 'running'));
  log.push(run('a', 'done'));
  assert.equal(log.stateOf('a'), 'done');
  assert.deepEqual(log.unfinishedRuns(), ['b']);
  assert.equal(log.lastRunEvent('a')?.state, 'done');
});

test('output of an unannounced run makes it a run of its own', () => {
  const log = new OutputLog(10);
  log.push(stream('other:k', 'hi'));
  assert.equal(log.stateOf('other:k'), 'other');
  assert.deepEqual(log.unfinishedRuns(), []);
});

test('the oldest runs are dropped beyond maxRuns, with all their events', () => {
  const log = new OutputLog(2);
  for (const id of ['a', 'b', 'c']) {
    log.push(run(id, 'running'));
    log.push(stream(id, id));
  }
  log.push({ kind: 'notice', severity: 'info', text: 'kept' });
  assert.equal(log.has('a'), false);
  assert.deepEqual(
    log.all().map((e) => ('runId' in e ? e.runId : e.kind)),
    ['b', 'b', 'c', 'c', 'notice'],
  );
});

test('clear forgets everything but keeps numbering', () => {
  const log = new OutputLog(5);
  log.push(run('a', 'done'));
  const cleared = log.push({ kind: 'clear' });
  assert.equal(cleared.seq, 2);
  assert.deepEqual(log.all(), []);
  assert.equal(log.has('a'), false);
});

test('run titles name the file and the 1-based lines', () => {
  assert.equal(runTitle('demo.py', { start: { line: 3 }, end: { line: 4, character: 0 } }), 'demo.py:4');
  assert.equal(runTitle('demo.py', { start: { line: 3 }, end: { line: 6, character: 0 } }), 'demo.py:4-6');
  assert.equal(runTitle('demo.py', { start: { line: 3 }, end: { line: 3, character: 9 } }), 'demo.py:4');
});
