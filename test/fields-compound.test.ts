/**
 * Compound fields: several values that a writer updates together and every
 * reader sees together. A hot writer in another process updates them as fast as
 * it can while this process reads them continuously: no read may mix two updates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { field, openStats, StatsReader, type HistogramValue } from '../src/index.js';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';

test('a hot writer updating compound (set and update), min/max/last, histogram and sampling counter fields never shows a reader a mixed update', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
    const stats = openStats({ name: 'hot', path: env.DIR });
    const abc = stats.add('abc', field.compound(['a', 'b', 'c']));
    const mm = stats.add('mm', field.minMax());
    const h = stats.add('h', field.histogram({ buckets: [10, 100, 1000, 10000] }));
    const sc = stats.add('sc', field.samplingCounter({ interval: 50 }));
    on('run', (ms) => {
      const end = Date.now() + ms;
      let n = 0;
      for (;;) {
        n++;
        if (n & 1) abc.set({ a: n, b: 2 * n, c: n * n });
        else abc.update((p) => { p.a = n; p.b = 2 * n; p.c = n * n; });
        mm.record(n);
        h.record(n % 20000);
        sc.incr();
        if ((n & 1023) === 0 && Date.now() >= end) return n;
      }
    });
    ready(stats.path);
  `,
    { env: { DIR: dir } },
  );
  const file = (await w.ready) as string;
  const reader = StatsReader.open(file);
  try {
    const running = w.call('run', 2000);
    let done = false;
    let total: number | undefined;
    void running.then((n: number) => ((done = true), (total = n)));
    const mixed: string[] = [];
    const seen = new Set<number>();
    let reads = 0;
    let busy = 0;
    const deadline = Date.now() + 30_000;
    // Read flat out (no awaits) for slices of ~100 ms, yielding between them so the call can settle.
    while (!done && Date.now() < deadline) {
      const sliceEnd = Date.now() + 100;
      while (Date.now() < sliceEnd) {
        const fields = reader.read().fields;
        reads++;
        for (const f of fields) {
          if (f.value === null) {
            busy++;
            continue;
          }
          if (f.label === 'abc') {
            const { a, b, c } = f.value as { a: number; b: number; c: number };
            if (b !== 2 * a || c !== a * a) mixed.push(`abc ${a} ${b} ${c}`);
            seen.add(a);
          } else if (f.label === 'mm') {
            const { count, min, max, last } = f.value as Record<string, number>;
            if (count > 0 && (min !== 1 || max !== count || last !== count)) mixed.push(`mm ${count} ${min} ${max} ${last}`);
          } else if (f.label === 'h') {
            const h = f.value as HistogramValue;
            const inBuckets = h.buckets.reduce((s, x) => s + x.count, 0);
            if (inBuckets !== h.count || (h.count > 0 && h.last !== h.count % 20000)) mixed.push(`h ${h.count} ${inBuckets} ${h.last}`);
          } else if (f.label === 'sc') {
            const { count, rate } = f.value as Record<string, number>;
            if (!(rate >= 0) || !Number.isInteger(count)) mixed.push(`sc ${count} ${rate}`);
          }
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    await running;
    assert.deepEqual(mixed.slice(0, 5), [], `${mixed.length} mixed reads in ${reads}`);
    assert.ok(reads > 100, `only ${reads} reads`);
    // On a loaded machine the writer may get little CPU: a few dozen distinct values still prove the overlap.
    assert.ok(seen.size >= 10, `the reader saw the writer move (${seen.size} distinct values in ${reads} reads)`);
    assert.ok(busy < reads * 4 * 0.5, `${busy} of ${reads * 4} values kept changing while read`);
    const last = reader.read().fields;
    const get = (label: string) => last.find((f) => f.label === label)!.value as Record<string, number>;
    assert.ok(total !== undefined && total > 1000);
    assert.deepEqual(get('abc'), { a: total, b: 2 * total, c: total * total });
    assert.deepEqual(get('mm'), { count: total, min: 1, max: total, last: total });
    assert.equal(get('sc').count, total);
    assert.equal((get('h') as unknown as HistogramValue).count, total);
  } finally {
    reader.close();
    await w.end();
  }
});

test('a sampling counter publishes its rate per second and lets it fall to zero when increments stop', async () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'rate', path: dir });
  const r = runScript(
    `on('read', (f) => { const r = StatsReader.open(f); const v = r.read().fields.find((x) => x.label === 'jobs').value; r.close(); return v; }); ready();`,
  );
  await r.ready;
  try {
    const t0 = performance.now();
    const jobs = stats.add('jobs', field.samplingCounter({ interval: 200, help: 'jobs done' }));
    for (let i = 0; i < 50; i++) jobs.incr();
    jobs.incr(50);
    const first = (await r.call('read', stats.path)) as { count: number; rate: number };
    assert.equal(first.count, 100);
    const sampled = await waitFor(
      async () => {
        const v = (await r.call('read', stats.path)) as { count: number; rate: number };
        return v.rate > 0 ? v : undefined;
      },
      10_000,
      'a rate sample',
    );
    const elapsed = (performance.now() - t0) / 1000;
    // 100 increments over one sampling interval: at least 100 / elapsed, and at most 100 / 0.199 s
    // (libuv fires a 200 ms timer by its loop clock, whole milliseconds: up to 1 ms early by a finer one).
    assert.ok(sampled!.rate <= 100 / 0.199 && sampled!.rate >= 100 / elapsed - 1e-9, `rate ${sampled!.rate}`);
    assert.equal(jobs.value, 100);
    await waitFor(async () => ((await r.call('read', stats.path)) as { rate: number }).rate === 0, 10_000, 'the rate to fall to 0');
    jobs.reset();
    assert.deepEqual(await r.call('read', stats.path), { count: 0, rate: 0 });
    assert.throws(() => field.samplingCounter({ interval: 0 }), /at least 1 ms/);
  } finally {
    stats.remove();
    await r.end();
  }
});

test('a compound field from a user schema sets some parts and keeps the others', async () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'schema', path: dir });
  const r = runScript(
    `on('read', (f) => { const r = StatsReader.open(f); const v = r.read().fields.find((x) => x.label === 'pool'); r.close(); return v; }); ready();`,
  );
  await r.ready;
  try {
    const pool = stats.add('pool', field.compound(['size', 'idle', 'waiting'], { help: 'connection pool' }));
    pool.set({ size: 10, idle: 4 });
    pool.set({ waiting: 2 });
    pool.update((p) => {
      p.idle -= 1;
      p.waiting += 1;
    });
    const got = (await r.call('read', stats.path)) as { kind: string; type: string; value: unknown };
    assert.equal(got.kind, 'compound');
    assert.equal(got.type, 'struct');
    assert.deepEqual(got.value, { size: 10, idle: 3, waiting: 3 });
    // A part that is not a number is stored as the file stores it, and read back so.
    pool.set({ size: '12' as unknown as number });
    assert.equal(pool.value.size, 12);
    // A bigint cannot be stored: the error comes through, and the write is complete (the sequence even).
    assert.throws(() => pool.set({ idle: 1n as unknown as number }), TypeError);
    pool.set({ waiting: 7 });
    assert.deepEqual(await r.call('read', stats.path).then((v) => (v as { value: unknown }).value), { size: 12, idle: 3, waiting: 7 });
  } finally {
    stats.remove();
    await r.end();
  }
});
