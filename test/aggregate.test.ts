import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CounterTracker, aggregateFields, readAll, reduce } from '../src/reader/index.js';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';

const WRITER = `
const M = defineModel('Agg', { hits: field.counter(), load: field.gauge(), name: field.string({ size: 16 }) });
const s = M.open({ path: env.DIR, filename: env.NAME });
on('set', (hits, load) => { s.hits.value = hits; s.load.set(load); s.name.set(env.NAME); });
ready(s.path);
`;

test('reduce implements the original mmash reductions', () => {
  assert.equal(reduce([1, 0, 3], 'avg'), 4 / 3);
  assert.equal(reduce([1, 0, 3], 'one'), 1);
  assert.equal(reduce([1, 0, 3], 'max'), 3);
  assert.equal(reduce([1, 0, 3], 'min'), 0);
  assert.equal(reduce([1, 0, 3], 'sum'), 4);
  assert.equal(reduce([1, 0, 3], 'nonzero-min'), 1);
  assert.equal(reduce([1, 0, 3], 'nonzero-avg'), 2);
  assert.equal(reduce([], 'sum'), null);
});

test('counters are summed across writer processes and never go backwards when a writer leaves or restarts', async () => {
  const dir = tempStatsDir();
  const a = runScript(WRITER, { env: { DIR: dir, NAME: 'a.mmstats' } });
  const b = runScript(WRITER, { env: { DIR: dir, NAME: 'b.mmstats' } });
  await Promise.all([a.ready, b.ready]);
  await a.call('set', 10, 1.5);
  await b.call('set', 32, 2.5);
  const tracker = new CounterTracker();
  const read = () => readAll([dir]).snapshots;
  tracker.update(read());
  let agg = aggregateFields(read(), { counters: tracker });
  assert.equal(agg.find((f) => f.label === 'hits')!.value, 42);
  assert.equal(agg.find((f) => f.label === 'load')!.value, 4);
  assert.equal(aggregateFields(read(), { gauge: 'max' }).find((f) => f.label === 'load')!.value, 2.5);
  assert.equal(aggregateFields(read(), { gauge: 'min' }).find((f) => f.label === 'load')!.value, 1.5);
  const names = agg.find((f) => f.label === 'name')!.value as { writer: string; value: unknown }[];
  assert.deepEqual(names.map((n) => n.value).sort(), ['a.mmstats', 'b.mmstats']);

  // Writer a ends (its file is removed): the total keeps what it counted.
  await a.end();
  await waitFor(() => read().length === 1, 5000, 'writer a to leave');
  tracker.update(read());
  agg = aggregateFields(read(), { counters: tracker });
  assert.equal(agg.find((f) => f.label === 'hits')!.value, 42);

  // Writer b restarts from zero and counts 5: the total goes on from 42.
  await b.call('set', 5, 0);
  tracker.update(read());
  assert.equal(tracker.total('hits'), 47);
  await b.end();
});

test('a writer that misses one read is not counted twice when it comes back', async () => {
  const dir = tempStatsDir();
  const a = runScript(WRITER, { env: { DIR: dir, NAME: 'a.mmstats' } });
  await a.ready;
  await a.call('set', 7, 0);
  const tracker = new CounterTracker();
  const snaps = readAll([dir]).snapshots;
  tracker.update(snaps);
  assert.equal(tracker.total('hits'), 7);
  tracker.update([]); // the file failed to read this time
  assert.equal(tracker.total('hits'), 7);
  await a.call('set', 9, 0);
  tracker.update(readAll([dir]).snapshots);
  assert.equal(tracker.total('hits'), 9);
  await a.end();
});
