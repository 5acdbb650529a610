import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelRegistry } from '../../src/kernels';
import type { Kernel } from '../../src/protocol';

const kernel = (id: string, documents: string[] = [], state: Kernel['state'] = 'idle'): Kernel => ({
  kernelId: id,
  kernelspec: 'python3',
  displayName: 'Python 3',
  language: 'python',
  state,
  owned: true,
  connectionFile: '/tmp/k.json',
  pid: 1,
  documents,
});

test('kernels from results, with their documents', () => {
  const r = new KernelRegistry();
  let changes = 0;
  r.onDidChange(() => changes++);
  r.update(kernel('a', ['file:///x.py']));
  assert.equal(r.kernelFor('file:///x.py')?.name, 'Python 3');
  assert.equal(changes, 1);
});

test('statuses: unknown kernels are reported, dead ones keep their reason', () => {
  const r = new KernelRegistry();
  assert.deepEqual(r.applyStatus({ kernelId: 'zz', state: 'busy' }), { known: false });
  r.update(kernel('a'));
  assert.deepEqual(r.applyStatus({ kernelId: 'a', state: 'dead', reason: 'exit 3' }), { known: true, previous: 'idle' });
  assert.equal(r.get('a')?.reason, 'exit 3');
  r.update(kernel('a', [], 'dead')); // a later list keeps why it died
  assert.equal(r.get('a')?.reason, 'exit 3');
  r.applyStatus({ kernelId: 'a', state: 'idle' });
  assert.equal(r.get('a')?.reason, undefined);
});

test('the daemon\'s list replaces everything; remove and clear forget bindings', () => {
  const r = new KernelRegistry();
  r.update(kernel('a', ['file:///x.py']));
  r.bindDocument('file:///y.py', 'a');
  r.replaceAll([kernel('b', ['file:///y.py'])]);
  assert.equal(r.get('a'), undefined);
  assert.equal(r.kernelFor('file:///x.py'), undefined);
  assert.equal(r.kernelFor('file:///y.py')?.kernelId, 'b');
  r.remove('b');
  assert.equal(r.kernelFor('file:///y.py'), undefined);
  r.update(kernel('c'));
  r.clear();
  assert.deepEqual(r.all(), []);
});

test('a binding the list does not know yet survives it while its kernel is listed', () => {
  const r = new KernelRegistry();
  r.bindDocument('file:///z.py', 'a'); // a cell state, before the list arrives
  r.replaceAll([kernel('a')]);
  assert.equal(r.kernelFor('file:///z.py')?.kernelId, 'a');
});

test('unresponsive keeps its reason until the kernel answers again', () => {
  const r = new KernelRegistry();
  r.update(kernel('a'));
  r.applyStatus({ kernelId: 'a', state: 'unresponsive', reason: 'no heartbeat' });
  assert.equal(r.get('a')?.state, 'unresponsive');
  assert.equal(r.get('a')?.reason, 'no heartbeat');
  r.applyStatus({ kernelId: 'a', state: 'idle' });
  assert.equal(r.get('a')?.reason, undefined);
});
