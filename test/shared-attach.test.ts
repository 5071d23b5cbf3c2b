/**
 * Shared mode, attach rules: the first open creates, later opens in the process
 * attach by label; every mismatch is an error that names the field.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { MmstatsError, defineModel, field, openStats } from '../src/index.js';
import { tempStatsDir } from './helpers/proc.js';

const isCode = (code: string, re: RegExp) => (e: unknown) => e instanceof MmstatsError && e.code === code && re.test(e.message);

const Jobs = defineModel('Jobs', { done: field.counter(), queue: field.gauge(), state: field.string({ size: 16 }) }, { prefix: 'jobs.' });

test('a second open of a shared model in the process attaches to the same file and sees the same values', () => {
  const dir = tempStatsDir();
  const a = Jobs.open({ path: dir, shared: true });
  const b = Jobs.open({ path: dir, shared: true });
  try {
    assert.equal(b.path, a.path);
    assert.match(a.path, /-Jobs-\d+-shared\.mmstats$/);
    a.done.incr(5);
    b.done.incr(7);
    assert.equal(a.done.value, 12);
    b.queue.set(3);
    a.queue.incr(0.5);
    assert.equal(b.queue.value, 3.5);
    a.state.set('draining');
    assert.equal(b.state.value, 'draining');
    // The creator has the default fields; the attacher finds them in the file and does not add its own.
    assert.ok(a.labels.includes('sys.pid'));
    assert.deepEqual(b.labels, ['jobs.done', 'jobs.queue', 'jobs.state']);
    // An attacher's remove() leaves the creator's file in place.
    b.remove();
    assert.ok(fs.existsSync(a.path));
    assert.throws(() => b.done.incr(), isCode('ERR_MMSTATS_CLOSED', /used after/));
    a.done.incr();
    assert.equal(a.done.value, 13);
  } finally {
    b.remove();
    a.remove();
  }
  assert.equal(fs.existsSync(a.path), false);
});

test('fields the creator adds later can be attached by label', () => {
  const dir = tempStatsDir();
  const a = openStats({ name: 'Late', path: dir, shared: true });
  const b = openStats({ name: 'Late', path: dir, shared: true });
  try {
    assert.throws(() => b.add('late.hits', field.counter()), isCode('ERR_MMSTATS_LABEL', /not in the shared file/));
    const ha = a.add('late.hits', field.counter());
    const hb = b.add('late.hits', field.counter());
    ha.incr();
    hb.incr(2);
    assert.equal(ha.value, 3);
  } finally {
    b.close();
    a.remove();
  }
});

test('attaching with a different field type is refused, naming the field and both types', () => {
  const dir = tempStatsDir();
  const a = Jobs.open({ path: dir, shared: true });
  try {
    const Other = defineModel('Jobs', { done: field.gauge() }, { prefix: 'jobs.' });
    assert.throws(
      () => Other.open({ path: dir, shared: true }),
      isCode('ERR_MMSTATS_LABEL', /jobs\.done is a uint64 counter in the shared file but a float64 gauge here/),
    );
    const Bigger = defineModel('Jobs', { state: field.string({ size: 32 }) }, { prefix: 'jobs.' });
    assert.throws(() => Bigger.open({ path: dir, shared: true }), isCode('ERR_MMSTATS_LABEL', /jobs\.state/));
    // The failed attach left the creator's file alone.
    a.done.incr();
    assert.ok(fs.existsSync(a.path));
  } finally {
    a.remove();
  }
});

test('shared mode refuses format 1 and field types without a shared form, leaving no file behind', () => {
  const dir = tempStatsDir();
  assert.throws(() => Jobs.open({ path: dir, shared: true, format: 1 }), isCode('ERR_MMSTATS_UNSUPPORTED', /format 2/));
  const Timed = defineModel('Timed', { took: field.histogram() });
  assert.throws(() => Timed.open({ path: dir, shared: true }), isCode('ERR_MMSTATS_UNSUPPORTED', /took \(histogram\) has no shared form/));
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('a shared counter counts whole numbers and says so for anything else', () => {
  const dir = tempStatsDir();
  const a = Jobs.open({ path: dir, shared: true });
  try {
    assert.throws(() => a.done.incr(0.5), /shared field jobs\.done counts whole numbers; got 0\.5/);
    a.done.incr(2 ** 40);
    a.done.incr(2 ** 40);
    assert.equal(a.done.value, 2 ** 41);
    a.done.reset();
    assert.equal(a.done.value, 0);
  } finally {
    a.remove();
  }
});

test('a shared file its creator closed is taken over by the next open, which becomes the creator', () => {
  const dir = tempStatsDir();
  const a = Jobs.open({ path: dir, shared: true });
  a.done.incr(4);
  const file = a.path;
  a.close();
  assert.ok(fs.existsSync(file));
  const b = Jobs.open({ path: dir, shared: true });
  try {
    assert.equal(b.path, file);
    assert.ok(b.labels.includes('sys.pid'), 'the new creator adds the default fields');
    assert.equal(b.done.value, 0, 'a new creator starts afresh');
  } finally {
    b.remove();
  }
});
