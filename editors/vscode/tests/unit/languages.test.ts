import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kernelLanguageFor, languageIdOf, languageIdsOf } from '../../src/languages';
import { initializationOptions, mergeDeep } from '../../src/options';

test('kernelspec languages map to VS Code language ids', () => {
  assert.equal(languageIdOf('python'), 'python');
  assert.equal(languageIdOf('R'), 'r');
  assert.equal(languageIdOf('C++'), 'cpp');
  assert.equal(languageIdOf('bash'), 'shellscript');
  assert.equal(languageIdOf(''), undefined);
  assert.deepEqual(languageIdsOf([{ language: 'python' }, { language: 'Python' }, { language: 'R' }, { language: '' }]), ['python', 'r']);
});

test('documents tell the daemon the kernels\' name of their language', () => {
  assert.equal(kernelLanguageFor('cpp', ['python', 'C++']), 'c++');
  assert.equal(kernelLanguageFor('python', ['python']), 'python');
  assert.equal(kernelLanguageFor('r', ['R']), 'r');
  assert.equal(kernelLanguageFor('go', ['python']), 'go');
});

test('initializationOptions: settings, then the extra object merged key by key', () => {
  const { options, imageDir } = initializationOptions({
    autoStart: false,
    defaultKernelspecs: { python: 'python3' },
    requestTimeout: 5,
    maxCharsPerExecution: 100,
    imageDir: '/store/images',
    extra: { kernels: { transport: 'ipc' }, output: { ansi: 'strip' } },
  });
  assert.equal(imageDir, '/store/images');
  assert.deepEqual(options['kernels'], { autoStart: false, defaultKernelspecs: { python: 'python3' }, transport: 'ipc' });
  const output = options['output'] as Record<string, unknown>;
  assert.equal(output['ansi'], 'strip');
  assert.equal(output['imageDir'], '/store/images');
  assert.equal(output['maxCharsPerExecution'], 100);
});

test('an imageDir in the extra options is the one the panel may load from', () => {
  const base = { autoStart: true, defaultKernelspecs: {}, requestTimeout: 10, maxCharsPerExecution: 0, imageDir: '/a' };
  assert.equal(initializationOptions({ ...base, extra: { output: { imageDir: '/b' } } }).imageDir, '/b');
  assert.equal(initializationOptions({ ...base, extra: { output: { imageDir: '' } } }).imageDir, '/a');
  assert.deepEqual(mergeDeep({ a: [1], b: { c: 1 } }, { a: [2], b: { d: 2 } }), { a: [2], b: { c: 1, d: 2 } });
});
