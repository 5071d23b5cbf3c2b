/**
 * Timers, averages and memory fields written here and read by a reader in another
 * process, in format 2 and, for the original's types, format 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineModel, field, openStats, MmstatsError, type FieldSpec } from '../src/index.js';
import { runScript, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';

/** A reader process: `read(file)` returns every non-default field with its exposed values. */
async function startReader(): Promise<ScriptProcess> {
  const r = runScript(`
    on('read', (file) => {
      const reader = StatsReader.open(file);
      try {
        const out = {};
        for (const f of reader.read().fields) {
          if (f.label.startsWith('sys.') || f.label.startsWith('org.')) continue;
          const v = f.value && f.value.buckets ? { ...f.value, buckets: f.value.buckets.filter((b) => b.count > 0) } : f.value;
          out[f.label] = { type: f.type, kind: f.kind, unit: f.unit, value: v, named: Object.fromEntries(mmstats.expandValues(f).map((e) => [e.suffix, e.value])) };
        }
        return out;
      } finally {
        reader.close();
      }
    });
    ready();
  `);
  await r.ready;
  return r;
}

type Read = Record<string, { type: string; kind: string; unit: string; value: any; named: Record<string, any> }>;

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('a timer records sync, async, throwing, rejecting, start/stop and using forms, in seconds', async () => {
  const dir = tempStatsDir();
  const reader = await startReader();
  const stats = openStats({ name: 'timer', path: dir });
  try {
    const t = stats.add('work', field.timer({ help: 'work time' }));
    assert.equal(
      t.time(() => (busy(20), 42)),
      42,
    );
    assert.ok(t.last >= 0.02 && t.last < 5, `sync: ${t.last}`);
    const v = await t.time(async () => {
      await new Promise((r) => setTimeout(r, 30));
      return 'done';
    });
    assert.equal(v, 'done');
    assert.ok(t.last >= 0.025 && t.last < 5, `async: ${t.last}`);
    assert.throws(() =>
      t.time(() => {
        busy(5);
        throw new Error('sync failure');
      }),
    );
    assert.ok(t.last >= 0.005, 'a throwing function is still timed');
    await assert.rejects(
      t.time(async () => {
        await new Promise((r) => setTimeout(r, 10));
        throw new Error('async failure');
      }),
      /async failure/,
    );
    assert.ok(t.last >= 0.008, 'a rejecting function is still timed');
    const token = t.start();
    busy(10);
    const d = t.stop(token);
    assert.equal(d, t.last);
    assert.ok(d >= 0.01);
    t.start();
    busy(3);
    assert.ok(t.stop() >= 0.003, 'stop() without a token stops the last start()');
    {
      using scope = t.scope();
      busy(15);
      assert.ok(scope.elapsed >= 0.015);
    }
    assert.ok(t.last >= 0.015, 'a using scope records at its end');
    assert.equal(t.count, 7);

    const got = ((await reader.call('read', stats.path)) as Read).work!;
    assert.equal(got.kind, 'timer');
    assert.equal(got.type, 'histogram');
    assert.equal(got.unit, 'seconds');
    assert.equal(got.named.count, 7);
    assert.equal(got.named.last, t.last);
    assert.ok(got.named.min >= 0.003 && got.named.max >= 0.025 && got.named.max < 5);
    assert.ok(got.named.sum >= 0.02 + 0.025 + 0.005 + 0.008 + 0.01 + 0.003 + 0.015);
    assert.equal(got.named.mean, got.named.sum / 7);
    assert.equal(got.named.moving_mean, got.named.mean, 'fewer values than the moving window: both means agree');
    assert.ok(got.named.p50 >= got.named.min && got.named.p50 <= got.named.max);
    assert.ok(got.named['p99.9'] <= got.named.max);
  } finally {
    stats.remove();
    await reader.end();
  }
});

test('a timer in milliseconds scales durations and its range to the unit', async () => {
  const dir = tempStatsDir();
  const reader = await startReader();
  const stats = openStats({ name: 'timer-ms', path: dir });
  try {
    const t = stats.add('ms', field.timer({ unit: 'milliseconds', moving: 0 }));
    t.time(() => busy(12));
    t.record(250);
    const got = ((await reader.call('read', stats.path)) as Read).ms!;
    assert.equal(got.unit, 'milliseconds');
    assert.ok(got.named.min >= 12 && got.named.min < 5000);
    assert.equal(got.named.max, 250);
    assert.equal(got.named.moving_mean, undefined, 'moving: 0 publishes no moving mean');
    assert.throws(() => field.timer({ unit: 'hours' as never }), /timer unit must be one of/);
  } finally {
    stats.remove();
    await reader.end();
  }
});

test('stopping a timer that was never started is an error naming the timer', () => {
  const stats = openStats({ name: 'timer-nostart', path: tempStatsDir() });
  try {
    const t = stats.add('idle', field.timer());
    assert.throws(
      () => t.stop(),
      (e: unknown) => e instanceof MmstatsError && /idle/.test(e.message),
    );
  } finally {
    stats.remove();
  }
});

test('running, moving and time-window averages publish count, sum and mean together', async () => {
  const dir = tempStatsDir();
  const reader = await startReader();
  const stats = openStats({ name: 'avg', path: dir });
  try {
    const run = stats.add('run', field.average());
    const mov = stats.add('mov', field.movingAverage({ size: 3 }));
    const win = stats.add('win', field.windowAverage({ window: 60_000 }));
    for (const v of [1, 2, 3, 4, 10, NaN]) {
      run.add(v);
      mov.add(v);
      win.add(v);
    }
    const got = (await reader.call('read', stats.path)) as Read;
    assert.deepEqual(got.run!.value, { count: 5, sum: 20, mean: 4 });
    assert.equal(got.run!.kind, 'average');
    assert.deepEqual(got.mov!.value, { count: 3, sum: 17, mean: 17 / 3 }, 'the last 3 values');
    assert.deepEqual(got.win!.value, { count: 5, sum: 20, mean: 4 });
    assert.equal(mov.value, 17 / 3);
    assert.equal(run.count, 5);
    run.reset();
    const after = (await reader.call('read', stats.path)) as Read;
    assert.equal(after.run!.value.count, 0);
    assert.equal(after.run!.value.mean, null, 'no values: the mean is NaN (null in JSON)');
  } finally {
    stats.remove();
    await reader.end();
  }
});

test('a moving average keeps the exact mean over many laps of its window', () => {
  const stats = openStats({ name: 'avg-laps', path: tempStatsDir() });
  try {
    const mov = stats.add('mov', field.movingAverage({ size: 100 }));
    for (let i = 0; i < 100_000; i++) mov.add(i % 7 === 0 ? 1e12 : 0.1 * i);
    let sum = 0;
    for (let i = 100_000 - 100; i < 100_000; i++) sum += i % 7 === 0 ? 1e12 : 0.1 * i;
    assert.ok(Math.abs(mov.value - sum / 100) / (sum / 100) < 1e-12, `${mov.value} vs ${sum / 100}`);
  } finally {
    stats.remove();
  }
});

test('a time-window average forgets values older than its window, even with no new value', async () => {
  const dir = tempStatsDir();
  const reader = await startReader();
  const stats = openStats({ name: 'avg-window', path: dir });
  try {
    const win = stats.add('win', field.windowAverage({ window: 400, slots: 4 }));
    win.add(5);
    win.add(7);
    const first = ((await reader.call('read', stats.path)) as Read).win!.value;
    assert.deepEqual(first, { count: 2, sum: 12, mean: 6 });
    await waitFor(async () => ((await reader.call('read', stats.path)) as Read).win!.value.count === 0, 10_000, 'the window to empty');
    win.add(1);
    assert.deepEqual(((await reader.call('read', stats.path)) as Read).win!.value, { count: 1, sum: 1, mean: 1 });
  } finally {
    stats.remove();
    await reader.end();
  }
});

test("format 1: the original's average, moving average and timer are buffered doubles read by another process", async () => {
  const dir = tempStatsDir();
  const reader = await startReader();
  const stats = openStats({ name: 'v1', path: dir, format: 1 });
  try {
    const run = stats.add('run', field.average());
    const mov = stats.add('mov', field.movingAverage({ size: 2 }));
    const win = stats.add('win', field.windowAverage({ window: 60_000 }));
    const t = stats.add('t', field.timer());
    for (const v of [1, 2, 6]) {
      run.add(v);
      mov.add(v);
      win.add(v);
    }
    t.record(0.5);
    t.record(1.5);
    const got = (await reader.call('read', stats.path)) as Read;
    for (const label of ['run', 'mov', 'win', 't']) assert.equal(got[label]!.type, 'd');
    assert.equal(got.run!.value, 3);
    assert.equal(got.mov!.value, 4);
    assert.equal(got.win!.value, 3);
    assert.equal(got.t!.value, 1, 'a v1 timer holds the moving mean of its durations in seconds');
    assert.equal(t.last, 1.5);
    for (const make of [
      () => field.histogram(),
      () => field.samplingCounter(),
      () => field.minMax(),
      () => field.memoryUsage(),
      () => field.processMemory(),
    ]) {
      const spec: FieldSpec = make();
      assert.throws(
        () => stats.add(`x.${spec.typeName.replace(/\W/g, '')}`, spec),
        (e: unknown) => e instanceof MmstatsError && e.code === 'ERR_MMSTATS_UNSUPPORTED' && e.message.includes(spec.typeName),
      );
    }
  } finally {
    stats.remove();
    await reader.end();
  }
});

test('memory usage records the heap a scope added, in its three forms', async () => {
  const dir = tempStatsDir();
  const reader = await startReader();
  const stats = openStats({ name: 'mem', path: dir });
  const keep: unknown[] = [];
  const MB8 = 8 * 1024 * 1024;
  try {
    const mem = stats.add('alloc', field.memoryUsage({ help: 'memory added per batch' }));
    // About 20 MB of small live objects, kept reachable so no collection takes them back, and
    // little garbage (a collection inside a scope can only free the garbage made before it).
    const grow = () => {
      const objs: object[] = [];
      for (let i = 0; i < 400_000; i++) objs.push({ i, half: i / 2, tag: 'x' });
      keep.push(objs);
    };
    mem.measure(grow);
    const mark = mem.start();
    grow();
    const growth = mark.stop();
    assert.ok(growth.heap > MB8, `start/stop: ${growth.heap}`);
    {
      using m = mem.scope();
      assert.ok(m.heapUsed > 0);
      grow();
    }
    await mem.measure(async () => {
      await new Promise((r) => setTimeout(r, 1));
      grow();
    });
    assert.throws(() =>
      mem.measure(() => {
        grow();
        throw new Error('fails');
      }),
    );
    assert.equal(mem.count, 5);
    const got = ((await reader.call('read', stats.path)) as Read).alloc!;
    assert.equal(got.unit, 'bytes');
    assert.equal(got.value.count, 5);
    assert.ok(got.value.heap_last > MB8 && got.value.heap_max >= got.value.heap_last, JSON.stringify(got.value));
    assert.ok(got.value.heap_mean > MB8);
    assert.equal(typeof got.value.rss_last, 'number');
    assert.ok(got.value.rss_max >= got.value.rss_last);
  } finally {
    stats.remove();
    await reader.end();
  }
});

test('process memory is published on refresh and on its interval, until stopped', async () => {
  const dir = tempStatsDir();
  const reader = await startReader();
  const stats = openStats({ name: 'procmem', path: dir });
  const keep: unknown[] = [];
  try {
    const pm = stats.add('process.memory', field.processMemory({ interval: 50 }));
    const first = ((await reader.call('read', stats.path)) as Read)['process.memory']!.value;
    assert.deepEqual(Object.keys(first), ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers']);
    assert.ok(first.rss > 1e6 && first.heapUsed > 1e5 && first.heapTotal >= first.heapUsed);
    keep.push(Buffer.alloc(32 * 1024 * 1024, 1));
    await waitFor(
      async () => ((await reader.call('read', stats.path)) as Read)['process.memory']!.value.arrayBuffers > first.arrayBuffers + 16e6,
      10_000,
      'the interval to publish the new buffer',
    );
    pm.stop();
    const manual = stats.add('process.memory2', field.processMemory());
    const before = ((await reader.call('read', stats.path)) as Read)['process.memory2']!.value.arrayBuffers;
    keep.push(Buffer.alloc(32 * 1024 * 1024, 1));
    manual.refresh();
    const after = ((await reader.call('read', stats.path)) as Read)['process.memory2']!.value.arrayBuffers;
    assert.ok(after > before + 16e6, `${before} -> ${after}`);
  } finally {
    stats.remove();
    await reader.end();
  }
});

test('timers, histograms, averages and memory fields throw ERR_MMSTATS_CLOSED once their stats are closed', () => {
  const stats = openStats({ name: 'closed', path: tempStatsDir() });
  const t = stats.add('t', field.timer());
  const h = stats.add('h', field.histogram());
  const a = stats.add('a', field.movingAverage());
  const m = stats.add('m', field.memoryUsage());
  const mm = stats.add('mm', field.minMax());
  stats.remove();
  const closed = (e: unknown) => e instanceof MmstatsError && e.code === 'ERR_MMSTATS_CLOSED';
  assert.throws(() => t.start(), closed);
  assert.throws(() => t.record(1), closed);
  assert.throws(() => t.count, closed);
  assert.throws(() => h.record(1), closed);
  assert.throws(() => h.max, closed);
  assert.throws(() => a.add(1), closed);
  assert.throws(() => m.start(), closed);
  assert.throws(() => mm.record(1), closed);
});

test('a model declares the metric fields and its instance exposes them typed, read by another process', async () => {
  const Api = defineModel(
    'Api',
    {
      latency: field.timer({ help: 'request latency' }),
      sizes: field.histogram({ buckets: [100, 1000, 10_000], unit: 'bytes' }),
      load: field.movingAverage({ size: 10 }),
      hits: field.samplingCounter(),
      depth: field.minMax(),
    },
    { prefix: 'api.' },
  );
  const reader = await startReader();
  const stats = Api.open({ path: tempStatsDir() });
  try {
    stats.latency.record(0.25);
    stats.sizes.record(512);
    stats.load.add(3);
    stats.hits.incr(2);
    stats.depth.record(7);
    const got = (await reader.call('read', stats.path)) as Read;
    assert.deepEqual(Object.keys(got), ['api.latency', 'api.sizes', 'api.load', 'api.hits', 'api.depth']);
    assert.deepEqual(
      Object.values(got).map((f) => f.kind),
      ['timer', 'histogram', 'average', 'counter', 'gauge'],
    );
    assert.equal(got['api.latency']!.named.max, 0.25);
    assert.equal(got['api.sizes']!.unit, 'bytes');
    assert.deepEqual(got['api.sizes']!.value.buckets, [{ le: 1000, count: 1 }]);
    assert.equal(got['api.load']!.value.mean, 3);
    assert.equal(got['api.hits']!.value.count, 2);
    assert.deepEqual(got['api.depth']!.value, { count: 1, min: 7, max: 7, last: 7 });
  } finally {
    stats.remove();
    await reader.end();
  }
});
