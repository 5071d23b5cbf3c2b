/**
 * Shared mode across worker threads: one file per process, exact counts under
 * contention, read back by a reader in another process.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { StatsReader, type Snapshot } from '../src/index.js';
import { ENTRY_URL, runScript, tempStatsDir } from './helpers/proc.js';

/** The writer process: the main thread creates the shared file, then `threads` workers attach and hammer it. */
const WRITER = `
import { Worker } from 'node:worker_threads';
const Shared = defineModel('Hits', {
  hits: field.counter({ help: 'hits from every thread' }),
  level: field.gauge(),
  small: field.int32(),
  big: field.int64(),
  flag: field.bool(),
  last: field.string({ size: 32 }),
  pair: field.compound(['a', 'b']),
}, { prefix: 'shared.' });
const stats = Shared.open({ path: env.STATS_DIR, shared: true });
const workerCode = \`
  import { workerData, parentPort } from 'node:worker_threads';
  const { defineModel, field } = await import(workerData.entry);
  const Shared = defineModel('Hits', {
    hits: field.counter({ help: 'hits from every thread' }),
    level: field.gauge(),
    small: field.int32(),
    big: field.int64(),
    flag: field.bool(),
    last: field.string({ size: 32 }),
    pair: field.compound(['a', 'b']),
  }, { prefix: 'shared.' });
  const s = Shared.open({ path: workerData.dir, shared: true });
  const n = workerData.n;
  const name = 'thread-' + workerData.i + '-'.repeat(workerData.i * 5);
  for (let i = 0; i < n; i++) {
    s.hits.incr();
    if ((i & 15) === 0) {
      s.level.incr(2);
      s.small.incr();
      s.big.incr(3);
      s.pair.update((p) => { p.a += 1; p.b += 2; });
      s.last.set(name);
    }
  }
  parentPort.postMessage({ path: s.path, labels: s.labels.length });
  s.close();
\`;
on('run', async (threads, n) => {
  const results = await Promise.all(Array.from({ length: threads }, (_, i) => new Promise((resolve, reject) => {
    const w = new Worker(workerCode, { eval: true, workerData: { entry: ${JSON.stringify(ENTRY_URL)}, dir: env.STATS_DIR, n, i } });
    w.once('message', resolve);
    w.once('error', reject);
  })));
  return results;
});
on('value', () => stats.hits.value);
ready({ path: stats.path });
`;

function field(snap: Snapshot, label: string) {
  const f = snap.fields.find((x) => x.label === label);
  assert.ok(f, `field ${label} in ${snap.path}`);
  return f;
}

test('4 worker threads x 10^6 counter increments on one shared file read back as exactly 4 x 10^6', { timeout: 120_000 }, async () => {
  const dir = tempStatsDir();
  const w = runScript(WRITER, { env: { STATS_DIR: dir } });
  try {
    const { path } = await w.ready;
    const threads = 4;
    const n = 1_000_000;
    // While the threads count, a reader here sees the total only ever grow.
    const running = w.call('run', threads, n);
    let done = false;
    void running.finally(() => (done = true));
    const seen: number[] = [];
    const live = StatsReader.open(path);
    try {
      while (!done) {
        const v = live.read().fields.find((f) => f.label === 'shared.hits')!.value as number;
        seen.push(v);
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      live.close();
    }
    const results: { path: string }[] = await running;
    assert.ok(seen.length > 0);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `the count went back from ${seen[i - 1]} to ${seen[i]}`);
    assert.ok(seen.every((v) => v <= threads * n));
    // Every thread wrote the same file: the process has one stats file.
    for (const r of results) assert.equal(r.path, path);
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.mmstats')),
      [path.slice(dir.length + 1)],
    );
    assert.match(path, /-shared\.mmstats$/);
    const reader = StatsReader.open(path);
    try {
      const snap = reader.read();
      assert.equal(snap.writer.shared, true);
      assert.equal(snap.writer.alive, true);
      assert.equal(snap.writer.pid, w.pid);
      const hits = field(snap, 'shared.hits');
      assert.equal(hits.kind, 'counter');
      assert.equal(hits.type, 'uint64');
      assert.equal(hits.value, threads * n);
      const rounds = threads * Math.ceil(n / 16);
      assert.equal(field(snap, 'shared.level').value, 2 * rounds);
      assert.equal(field(snap, 'shared.small').value, rounds);
      assert.equal(field(snap, 'shared.big').value, 3 * rounds);
      assert.deepEqual(field(snap, 'shared.pair').value, { a: rounds, b: 2 * rounds });
      const last = field(snap, 'shared.last').value as string;
      assert.match(last, /^thread-[0-3]-*$/);
      assert.equal(last.length, 'thread-0'.length + Number(last[7]) * 5, `an untorn string: ${last}`);
      assert.equal(field(snap, 'sys.pid').value, w.pid);
    } finally {
      reader.close();
    }
    // The creating thread sees the other threads' counts too.
    assert.equal(await w.call('value'), threads * n);
  } finally {
    await w.end();
  }
});
