/**
 * Runtime metrics: published by a real Node process (and a worker thread in it),
 * read from this one; stop() releases every timer and observer.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { MmstatsError, StatsReader, openStats, startRuntimeMetrics, type HistogramValue, type Snapshot } from '../src/index.js';
import { ENTRY_URL, runScript, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';

/** A gc() function without --expose-gc on the command line. */
const GC = `
import v8 from 'node:v8';
import vm from 'node:vm';
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
`;

function snap(file: string): Snapshot {
  const r = StatsReader.open(file);
  try {
    return r.read();
  } finally {
    r.close();
  }
}

function val(s: Snapshot, label: string): any {
  const f = s.fields.find((x) => x.label === label);
  assert.ok(f, `${label} in ${s.path}`);
  return f.value;
}

function has(s: Snapshot, label: string): boolean {
  return s.fields.some((x) => x.label === label);
}

/** Wait for a script to exit on its own; kill it and fail if it does not. */
async function exitsWithin(w: ScriptProcess, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const code = await Promise.race([w.exited, timeout]);
  clearTimeout(timer);
  if (code === 'timeout') {
    w.child.kill('SIGKILL');
    assert.fail(`the process did not exit within ${ms} ms: something still holds its event loop`);
  }
  return code;
}

test('runtime metrics publish event loop, heap, GC, CPU and memory figures that another process reads', { timeout: 60_000 }, async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `${GC}
    const { startRuntimeMetrics } = mmstats;
    const rt = startRuntimeMetrics({ path: env.STATS_DIR, intervalMs: 50 });
    // Spins for ms of wall time and of CPU time: on a busy machine the one lags the other.
    on('block', (ms) => { const end = Date.now() + ms; const cpu0 = process.cpuUsage(); const cpuMs = () => { const c = process.cpuUsage(cpu0); return (c.user + c.system) / 1000; }; while (Date.now() < end || cpuMs() < ms); });
    on('gc', () => { gc(); gc(); });
    ready(rt.stats.path);
    `,
    { env: { STATS_DIR: dir } },
  );
  try {
    const file: string = await w.ready;
    assert.match(file, /-Runtime-\d+-0\.mmstats$/);
    await w.call('gc');
    await w.call('block', 300);
    const s = await waitFor<Snapshot | undefined>(
      () => {
        const s = snap(file);
        const delay = val(s, 'nodejs.eventloop.delay') as HistogramValue;
        const major = val(s, 'nodejs.gc.duration{kind="major"}') as HistogramValue;
        // The CPU figures are sampled every 50 ms: wait for a sample taken after the loop.
        return delay.max >= 0.2 && major.count >= 2 && val(s, 'nodejs.process.cpu.total') >= 0.3 ? s : undefined;
      },
      20_000,
      'the blocked loop and the forced collections to show',
    ).then((x) => x!);
    const f = (label: string) => s.fields.find((x) => x.label === label)!;
    // The 300 ms block is one delay sample of about 290 ms beyond the 10 ms resolution.
    assert.ok(val(s, 'nodejs.eventloop.delay.max') >= 0.2 || (val(s, 'nodejs.eventloop.delay') as HistogramValue).max >= 0.2);
    assert.equal(f('nodejs.eventloop.delay').kind, 'histogram');
    assert.equal(f('nodejs.eventloop.delay').unit, 'seconds');
    const major = val(s, 'nodejs.gc.duration{kind="major"}') as HistogramValue;
    assert.ok(major.sum > 0 && major.sum < 10, `total major GC pause ${major.sum} s`);
    const util = val(s, 'nodejs.eventloop.utilization');
    assert.ok(util >= 0 && util <= 1, `utilisation ${util}`);
    assert.ok(val(s, 'nodejs.heap.used') > 1e6);
    assert.ok(val(s, 'nodejs.heap.total') >= val(s, 'nodejs.heap.used'));
    assert.ok(val(s, 'nodejs.heap.limit') > val(s, 'nodejs.heap.total'));
    assert.ok(val(s, 'nodejs.heap.space.used{space="old"}') > 0);
    assert.ok(val(s, 'nodejs.process.rss') > val(s, 'nodejs.heap.used'));
    assert.equal(f('nodejs.process.cpu.total').kind, 'counter');
    assert.ok(val(s, 'nodejs.process.cpu.total') >= 0.3, 'the 300 ms busy loop is CPU time');
    assert.ok(
      Math.abs(val(s, 'nodejs.process.cpu.total') - val(s, 'nodejs.process.cpu.user') - val(s, 'nodejs.process.cpu.system')) < 1e-6,
    );
    // Heap spaces, GC kinds and resource types are labels of one family each.
    const of = (family: string) => s.fields.filter((x) => x.family === family && x.labels !== undefined);
    const spaces = of('nodejs.heap.space.used').map((x) => x.labels!.space);
    for (const space of ['old', 'new', 'code', 'large_object']) assert.ok(spaces.includes(space), `space ${space} in ${spaces}`);
    assert.deepEqual(
      of('nodejs.heap.space.size')
        .map((x) => x.labels!.space)
        .sort(),
      [...spaces].sort(),
    );
    assert.ok(of('nodejs.heap.space.size').every((x) => x.unit === 'bytes'));
    assert.deepEqual(
      of('nodejs.gc.duration')
        .map((x) => x.labels!.kind)
        .sort(),
      ['incremental', 'major', 'minor', 'weakcb'],
    );
    const resources = of('nodejs.active.resources');
    assert.ok(
      resources.some((x) => x.labels!.type === 'PipeWrap' && (x.value as number) >= 1),
      `stdin is an active resource of the writer: ${resources.map((x) => x.label)}`,
    );
    assert.equal(has(s, 'nodejs.heap.space.old.used'), false, 'no field per space any more');
    const started = val(s, 'nodejs.process.start_time');
    assert.ok(Math.abs(started - Date.now() / 1000) < 120, `start time ${started}`);
    if (process.platform === 'linux') {
      assert.ok(val(s, 'nodejs.process.open_fds') >= 3);
      assert.ok(val(s, 'nodejs.process.virtual_memory') > val(s, 'nodejs.process.rss'));
    }
  } finally {
    await w.end();
  }
});

test('stop() disconnects the GC observer and clears the interval: nothing updates afterwards', { timeout: 60_000 }, async () => {
  const dir = tempStatsDir();
  // Two sets of runtime metrics in one file: 'a.' is stopped, 'b.' keeps running and
  // proves that the collections and the allocation did happen and were seen.
  const w = runScript(
    `${GC}
    const { startRuntimeMetrics } = mmstats;
    const stats = openStats({ name: 'Rt', path: env.STATS_DIR });
    const a = startRuntimeMetrics({ stats, prefix: 'a.', intervalMs: 50 });
    const b = startRuntimeMetrics({ stats, prefix: 'b.', intervalMs: 50 });
    const keep = [];
    on('gc', () => { gc(); gc(); });
    on('stopA', () => a.stop());
    on('churn', () => { for (let i = 0; i < 3; i++) gc(); keep.push(new Array(4e6).fill(1.5)); });
    ready(stats.path);
    `,
    { env: { STATS_DIR: dir } },
  );
  try {
    const file: string = await w.ready;
    await w.call('gc');
    await waitFor(
      () => (val(snap(file), 'a.gc.duration{kind="major"}') as HistogramValue).count >= 2,
      20_000,
      'a. to count the first collections',
    );
    await w.call('stopA');
    const before = snap(file);
    await w.call('churn');
    await waitFor(
      () => {
        const s = snap(file);
        return (
          (val(s, 'b.gc.duration{kind="major"}') as HistogramValue).count >=
            (val(before, 'b.gc.duration{kind="major"}') as HistogramValue).count + 3 &&
          val(s, 'b.heap.used') > val(before, 'b.heap.used') + 20e6
        );
      },
      20_000,
      'the running metrics to see the collections and the allocation',
    );
    const after = snap(file);
    for (const label of [
      'a.gc.duration{kind="major"}',
      'a.heap.used',
      'a.heap.space.used{space="old"}',
      'a.process.cpu.total',
      'a.eventloop.delay',
    ]) {
      assert.deepEqual(val(after, label), val(before, label), `${label} did not change after stop()`);
    }
  } finally {
    await w.end();
  }
});

test('a process that starts and stops runtime metrics exits on its own, with its stats file removed', { timeout: 60_000 }, async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
    globalThis.keepRunning = true;
    const rt = mmstats.startRuntimeMetrics({ path: env.STATS_DIR, intervalMs: 20 });
    const busy = setInterval(() => {}, 5);
    const { existsSync } = await import('node:fs');
    on('stop', () => {
      clearInterval(busy);
      rt.stop();
      return { exists: existsSync(rt.stats.path), resources: process.getActiveResourcesInfo() };
    });
    ready(rt.stats.path);
    `,
    { env: { STATS_DIR: dir } },
  );
  const file: string = await w.ready;
  assert.ok(fs.existsSync(file));
  await waitFor(() => val(snap(file), 'nodejs.heap.used') > 0, 10_000, 'the first refresh');
  const r = await w.call('stop');
  assert.equal(r.exists, false, 'stop() removes the file the metrics opened');
  assert.ok(!r.resources.includes('Timeout') && !r.resources.includes('Immediate'), `left: ${r.resources}`);
  w.child.stdin!.end();
  assert.equal(await exitsWithin(w, 10_000), 0);
});

test('runtime metrics never keep a process alive, and a normal exit removes their file', { timeout: 60_000 }, async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
    globalThis.keepRunning = true;
    const rt = mmstats.startRuntimeMetrics({ path: env.STATS_DIR, intervalMs: 20 });
    ready(rt.stats.path);
    `,
    { env: { STATS_DIR: dir } },
  );
  const file: string = await w.ready;
  await waitFor(() => val(snap(file), 'nodejs.heap.used') > 0, 10_000, 'the first refresh');
  w.child.stdin!.end();
  assert.equal(await exitsWithin(w, 10_000), 0);
  assert.equal(fs.existsSync(file), false);
});

test(
  'in a worker thread, heap figures are the worker’s own and process-wide figures are left to the main thread',
  { timeout: 60_000 },
  async () => {
    const dir = tempStatsDir();
    const w = runScript(
      `
    import { Worker } from 'node:worker_threads';
    const main = mmstats.startRuntimeMetrics({ path: env.STATS_DIR, intervalMs: 50 });
    const code = \`
      import { workerData, parentPort } from 'node:worker_threads';
      const { startRuntimeMetrics } = await import(workerData.entry);
      const rt = startRuntimeMetrics({ path: workerData.dir, intervalMs: 50 });
      globalThis.big = new Array(8e6).fill(0.5); // about 64 MB on this thread's heap
      parentPort.postMessage(rt.stats.path);
      parentPort.on('message', () => { rt.stop(); parentPort.close(); });
    \`;
    const worker = new Worker(code, { eval: true, workerData: { entry: ${JSON.stringify(ENTRY_URL)}, dir: env.STATS_DIR } });
    const workerFile = await new Promise((r) => worker.once('message', r));
    on('done', async () => { worker.postMessage('stop'); await new Promise((r) => worker.once('exit', r)); });
    ready({ main: main.stats.path, worker: workerFile });
    `,
      { env: { STATS_DIR: dir } },
    );
    try {
      const files: { main: string; worker: string } = await w.ready;
      assert.notEqual(files.main, files.worker);
      const { m, wk } = await waitFor<{ m: Snapshot; wk: Snapshot } | undefined>(
        () => {
          const m = snap(files.main);
          const wk = snap(files.worker);
          return val(wk, 'nodejs.heap.used') > 60e6 && val(m, 'nodejs.heap.used') > 0 ? { m, wk } : undefined;
        },
        20_000,
        'the worker heap to show its 64 MB',
      ).then((x) => x!);
      assert.ok(val(m, 'nodejs.heap.used') < val(wk, 'nodejs.heap.used') - 50e6, 'the main thread heap does not hold the worker’s array');
      assert.ok(wk.writer.threadId > 0);
      assert.equal(has(wk, 'nodejs.process.rss'), false, 'a worker does not publish process-wide figures');
      assert.equal(has(wk, 'nodejs.process.cpu.total'), false);
      assert.equal(has(m, 'nodejs.process.rss'), true);
      assert.match(m.fields.find((f: { label: string }) => f.label === 'nodejs.heap.used')!.help, /this thread/);
      await w.call('done');
      assert.equal(fs.existsSync(files.worker), false, 'the worker’s stop() removed its file');
    } finally {
      await w.end();
    }
  },
);

test('bad options are refused with errors that name the problem', () => {
  const dir = tempStatsDir();
  assert.throws(() => startRuntimeMetrics({ path: dir, intervalMs: 0 }), /intervalMs must be a number of milliseconds >= 10, not 0/);
  assert.throws(() => startRuntimeMetrics({ path: dir, eventLoopResolutionMs: 0.5 }), /eventLoopResolutionMs must be a whole number/);
  const shared = openStats({ name: 'Shared', path: dir, shared: true });
  try {
    assert.throws(
      () => startRuntimeMetrics({ stats: shared }),
      (e: unknown) => e instanceof MmstatsError && e.code === 'ERR_MMSTATS_UNSUPPORTED' && /per thread/.test(e.message),
    );
  } finally {
    shared.remove();
  }
  // A clash with labels already in the stats is an error, and the stats stay usable.
  const stats = openStats({ name: 'Clash', path: dir });
  try {
    const rt = startRuntimeMetrics({ stats, intervalMs: 1000 });
    assert.throws(
      () => startRuntimeMetrics({ stats }),
      (e: unknown) => e instanceof MmstatsError && e.code === 'ERR_MMSTATS_LABEL',
    );
    rt.stop();
  } finally {
    stats.remove();
  }
});

test(
  'closing the stats under running runtime metrics stops them instead of throwing from a timer or the GC observer',
  { timeout: 30_000 },
  async () => {
    const dir = tempStatsDir();
    const stats = openStats({ name: 'Closing', path: dir });
    const rt = startRuntimeMetrics({ stats, intervalMs: 10 });
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    process.on('uncaughtException', onError);
    try {
      stats.close();
      // Give the interval and the GC observer (garbage makes collections) a chance to fire.
      let junk: number[][] = [];
      const end = Date.now() + 300;
      while (Date.now() < end) {
        junk.push(new Array(1e4).fill(1));
        if (junk.length > 200) junk = [];
        await new Promise((r) => setTimeout(r, 1));
      }
      assert.deepEqual(errors, []);
      rt.stop();
    } finally {
      process.off('uncaughtException', onError);
      stats.remove();
    }
  },
);
