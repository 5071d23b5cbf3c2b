/**
 * Life cycle of a stats file: use after close, idempotent close/remove, removal
 * at exit, persistence with `keep`, and the writer's liveness as a reader sees it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { field, openStats, StatsReader, MmstatsError, findFiles } from '../src/index.js';
import { runScript, tempStatsDir, waitFor, type ScriptProcess } from './helpers/proc.js';

const isClosedError = (err: unknown) => err instanceof MmstatsError && err.code === 'ERR_MMSTATS_CLOSED';

/** A child that opens one field of every kind, closes (or removes) and then uses each field. */
const USE_AFTER_CLOSE = `
const stats = openStats({ name: 'Closed', path: env.DIR, format: Number(env.FORMAT) });
const v2 = stats.format === 2;
const fields = {
  counter: [stats.add('counter', field.counter()), (f) => f.incr()],
  gauge: [stats.add('gauge', field.gauge()), (f) => f.set(1)],
  int8: [stats.add('int8', field.int8()), (f) => f.set(1)],
  uint32: [stats.add('uint32', field.uint32()), (f) => f.value = 3],
  float32: [stats.add('float32', field.float32()), (f) => f.set(1.5)],
  int64: [stats.add('int64', field.int64()), (f) => f.set(2n ** 60n)],
  uint64: [stats.add('uint64', field.uint64()), (f) => f.incr()],
  bool: [stats.add('bool', field.bool()), (f) => f.set(true)],
  string: [stats.add('string', field.string({ size: 8 })), (f) => f.set('x')],
  ...(v2 ? { compound: [stats.add('compound', field.compound(['a'])), (f) => f.set({ a: 1 })] } : {}),
};
on('finish', (how) => {
  stats[how]();
  stats[how](); // idempotent
  const out = {};
  for (const [name, [f, use]] of Object.entries(fields)) {
    try { use(f); out[name] = 'no error'; } catch (err) { out[name] = err.code ?? String(err); }
  }
  try { stats.add('late', field.counter()); out.add = 'no error'; } catch (err) { out.add = err.code; }
  try { stats.flush(); out.flush = 'no error'; } catch (err) { out.flush = err.code; }
  return out;
});
on('alive', () => 'still here');
ready(stats.path);
`;

for (const format of [2, 1] as const) {
  for (const how of ['close', 'remove'] as const) {
    test(`format ${format}: every field throws ERR_MMSTATS_CLOSED after ${how}(), and the process lives on`, async () => {
      const dir = tempStatsDir();
      const w = runScript(USE_AFTER_CLOSE, { env: { DIR: dir, FORMAT: String(format) } });
      try {
        const file: string = await w.ready;
        const out: Record<string, string> = await w.call('finish', how);
        const names = ['counter', 'gauge', 'int8', 'uint32', 'float32', 'int64', 'uint64', 'bool', 'string', 'add', 'flush'];
        if (format === 2) names.push('compound');
        for (const name of names) assert.equal(out[name], 'ERR_MMSTATS_CLOSED', `${name} after ${how}`);
        assert.equal(await w.call('alive'), 'still here');
        assert.equal(fs.existsSync(file), how === 'close', `file ${how === 'close' ? 'kept' : 'deleted'}`);
      } finally {
        assert.equal(await w.end(), 0);
      }
    });
  }
}

test('the value getters also throw ERR_MMSTATS_CLOSED rather than read an unmapped file', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Getters', path: dir });
  const c = stats.add('c', field.counter());
  const s = stats.add('s', field.string());
  const big = stats.add('big', field.int64());
  const b = stats.add('b', field.bool());
  const cmp = stats.add('cmp', field.compound(['x']));
  stats.remove();
  assert.throws(() => c.value, isClosedError);
  assert.throws(() => s.value, isClosedError);
  assert.throws(() => big.value, isClosedError);
  assert.throws(() => big.number, isClosedError);
  assert.throws(() => b.value, isClosedError);
  assert.throws(() => cmp.update((p) => (p.x = 1)), isClosedError);
});

test('close() then remove() still deletes the file', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'CloseRemove', path: dir });
  stats.close();
  assert.ok(fs.existsSync(stats.path));
  stats.remove();
  assert.equal(fs.existsSync(stats.path), false);
  stats.remove();
});

test('Symbol.dispose removes the file (or closes a kept one)', () => {
  const dir = tempStatsDir();
  const a = openStats({ name: 'DisposeA', path: dir });
  a[Symbol.dispose]();
  assert.equal(fs.existsSync(a.path), false);
  const b = openStats({ name: 'DisposeB', path: dir, keep: true });
  b[Symbol.dispose]();
  assert.equal(fs.existsSync(b.path), true);
  const r = StatsReader.open(b.path);
  try {
    assert.equal(r.writer().state, 'closed');
  } finally {
    r.close();
  }
});

test('flush() (sync and async) succeeds on an open file and the values are in the file', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Flush', path: dir });
  try {
    const c = stats.add('c', field.counter());
    c.incr(41);
    stats.flush();
    c.incr();
    stats.flush({ async: true });
    // read(2) goes through the page cache, like any process that does not map the file.
    const r = StatsReader.open(stats.path);
    try {
      assert.equal(r.read().fields.find((f) => f.label === 'c')?.value, 42);
    } finally {
      r.close();
    }
  } finally {
    stats.remove();
  }
});

test('a process that exits normally removes its files; a SIGKILLed one leaves a file whose writer is not alive', async () => {
  const dir = tempStatsDir();
  const body = `
const A = defineModel('A', { n: field.counter() });
const B = defineModel('B', { n: field.counter() });
const a = A.open({ path: env.DIR });
const b = B.open({ path: env.DIR, format: 1 });
a.n.incr();
ready([a.path, b.path]);
`;
  const clean = runScript(body, { env: { DIR: dir } });
  const files: string[] = await clean.ready;
  for (const f of files) assert.ok(fs.existsSync(f));
  assert.equal(await clean.end(), 0);
  for (const f of files) assert.equal(fs.existsSync(f), false, `${f} removed at exit`);

  const killed = runScript(body, { env: { DIR: dir } });
  const [v2file, v1file]: string[] = await killed.ready;
  const r2 = StatsReader.open(v2file!);
  const r1 = StatsReader.open(v1file!);
  try {
    assert.equal(r2.writer().alive, true);
    assert.equal(r2.writer().state, 'ready');
    assert.equal(r1.writer().alive, true);
    killed.child.kill('SIGKILL');
    await killed.exited;
    assert.equal(r2.writer().alive, false, 'v2: the lock died with the writer');
    assert.equal(r2.writer().state, 'ready', 'a killed writer never marked the file closed');
    assert.equal(r1.writer().alive, false, 'v1: sys.pid no longer runs');
    assert.equal(r2.read().fields.find((f) => f.label === 'n')?.value, 1, 'the last values stay readable');
  } finally {
    r2.close();
    r1.close();
    killed.child.kill('SIGKILL');
  }
  assert.deepEqual(findFiles([dir]), [v1file, v2file].sort());
});

test("after a clean close the reader sees state 'closed' and the writer not alive", async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
const stats = openStats({ name: 'Liveness', path: env.DIR });
on('close', () => stats.close());
ready(stats.path);
`,
    { env: { DIR: dir } },
  );
  try {
    const file: string = await w.ready;
    const r = StatsReader.open(file);
    try {
      const live = r.writer();
      assert.equal(live.alive, true);
      assert.equal(live.state, 'ready');
      assert.equal(live.pid, w.pid);
      assert.ok(live.createdMs > Date.now() - 60_000 && live.createdMs <= Date.now());
      assert.ok(live.startToken > 0, 'a start token tells a reused pid apart');
      await w.call('close');
      const closed = r.writer();
      assert.equal(closed.state, 'closed');
      assert.equal(closed.alive, false);
    } finally {
      r.close();
    }
  } finally {
    await w.end();
  }
});

const PERSIST = `
const Persist = defineModel('Persist', {
  hits: field.counter(),
  load: field.gauge(),
  big: field.uint64(),
  where: field.string({ size: 16 }),
});
const stats = Persist.open({ path: env.DIR, filename: 'persist.mmstats', keep: true, format: Number(env.FORMAT) });
on('bump', (n) => {
  for (let i = 0; i < n; i++) stats.hits.incr();
  stats.load.incr(0.5);
  stats.big.incr();
  stats.where.set(stats.where.value + 'a');
  return { hits: stats.hits.value, load: stats.load.value, big: String(stats.big.value), where: stats.where.value };
});
ready(stats.path);
`;

for (const format of [2, 1] as const) {
  test(`format ${format}: keep: true keeps the file after exit, and a new process continues from its values`, async () => {
    const dir = tempStatsDir();
    const env = { DIR: dir, FORMAT: String(format) };
    const children: ScriptProcess[] = [];
    const start = () => {
      const c = runScript(PERSIST, { env });
      children.push(c);
      return c;
    };
    try {
      const first = start();
      const file: string = await first.ready;
      assert.deepEqual(await first.call('bump', 5), { hits: 5, load: 0.5, big: '1', where: 'a' });
      assert.equal(await first.end(), 0);
      assert.ok(fs.existsSync(file), 'kept after a normal exit');
      const r = StatsReader.open(file);
      try {
        assert.equal(r.read().fields.find((f) => f.label === 'hits')?.value, 5);
        if (format === 2) assert.equal(r.writer().state, 'closed');
      } finally {
        r.close();
      }

      const second = start();
      assert.equal(await second.ready, file);
      assert.deepEqual(await second.call('bump', 2), { hits: 7, load: 1, big: '2', where: 'aa' });
      // Killed this time: the file stays (as any killed writer's), and the next open continues again.
      second.child.kill('SIGKILL');
      await second.exited;
      const third = start();
      await third.ready;
      assert.deepEqual(await third.call('bump', 1), { hits: 8, load: 1.5, big: '3', where: 'aaa' });
      await third.end();
      const r2 = StatsReader.open(file);
      try {
        const v = Object.fromEntries(r2.read().fields.map((f) => [f.label, f.value]));
        assert.equal(v.hits, 8);
        assert.notEqual(v['sys.pid'], first.pid, 'static fields are written afresh');
      } finally {
        r2.close();
      }
    } finally {
      for (const c of children) c.child.kill('SIGKILL');
    }
  });
}

test('a kept file reopened: counts, sums and histograms continue; moving and time-window averages start empty (docs: README, keep)', async () => {
  const dir = tempStatsDir();
  const body = `
const Kept = defineModel('Kept', {
  running: field.average(),
  moving: field.movingAverage({ size: 10 }),
  window: field.windowAverage({ window: 60_000 }),
  sizes: field.histogram({ buckets: [1, 10] }),
  range: field.minMax(),
});
const s = Kept.open({ path: env.DIR, filename: 'kept.mmstats', keep: true });
on('add', (...xs) => { for (const x of xs) { s.running.add(x); s.moving.add(x); s.window.add(x); s.sizes.record(x); s.range.record(x); } });
on('counts', () => ({ running: s.running.count, moving: s.moving.count, window: s.window.count, sizes: s.sizes.count, range: s.range.count }));
ready(s.path);
`;
  const first = runScript(body, { env: { DIR: dir } });
  await first.ready;
  await first.call('add', 2, 4);
  assert.equal(await first.end(), 0);
  const second = runScript(body, { env: { DIR: dir } });
  try {
    await second.ready;
    assert.deepEqual(await second.call('counts'), { running: 2, moving: 0, window: 0, sizes: 2, range: 2 });
    await second.call('add', 6);
    assert.deepEqual(await second.call('counts'), { running: 3, moving: 1, window: 1, sizes: 3, range: 3 });
  } finally {
    await second.end();
  }
});

test('without keep, a stale file of the same name starts from zero', async () => {
  const dir = tempStatsDir();
  const body = `
const stats = openStats({ name: 'Fresh', path: env.DIR, filename: 'fresh.mmstats', keep: env.KEEP === '1' });
const c = stats.add('c', field.counter());
on('incr', () => { c.incr(); return c.value; });
ready(stats.path);
`;
  const first = runScript(body, { env: { DIR: dir, KEEP: '1' } });
  let second: ScriptProcess | undefined;
  try {
    await first.ready;
    assert.equal(await first.call('incr'), 1);
    await first.end();
    second = runScript(body, { env: { DIR: dir, KEEP: '0' } });
    await second.ready;
    assert.equal(await second.call('incr'), 1);
    await second.end();
  } finally {
    first.child.kill('SIGKILL');
    second?.child.kill('SIGKILL');
  }
  assert.equal(fs.existsSync(path.join(dir, 'fresh.mmstats')), false);
});

test('a reader polling a file sees the writer go from alive to gone after SIGKILL', async () => {
  const dir = tempStatsDir();
  const w = runScript(`const s = defineModel('K', { n: field.counter() }).open({ path: env.DIR }); ready(s.path);`, { env: { DIR: dir } });
  const file: string = await w.ready;
  const r = StatsReader.open(file);
  try {
    assert.equal(r.read().writer.alive, true);
    w.child.kill('SIGKILL');
    await waitFor(() => !r.read().writer.alive, 10_000, 'writer seen dead');
  } finally {
    r.close();
    w.child.kill('SIGKILL');
  }
});

for (const format of [2, 1] as const) {
  test(`format ${format}: a reader that holds a kept file sees the next writer's fields after a restart with a new schema`, async () => {
    const dir = tempStatsDir();
    const body = (schema: string, values: string) => `
const stats = openStats({ name: 'Restart', path: env.DIR, filename: 'restart.mmstats', keep: true, format: ${format}, defaultFields: false });
${schema}
${values}
ready(stats.path);
`;
    const first = runScript(
      body(`const a = stats.add('a', field.uint32()); const b = stats.add('b', field.string({ size: 8 }));`, `a.set(1); b.set('one');`),
      { env: { DIR: dir } },
    );
    let second: ScriptProcess | undefined;
    try {
      const file: string = await first.ready;
      const r = StatsReader.open(file);
      try {
        assert.deepEqual(
          r.read().fields.map((f) => [f.label, f.value]),
          [
            ['a', 1],
            ['b', 'one'],
          ],
        );
        await first.end();
        // The new version of the program puts a new field first.
        second = runScript(
          body(
            `const z = stats.add('z', field.string({ size: 64 })); const b = stats.add('b', field.string({ size: 8 })); const a = stats.add('a', field.uint32());`,
            `z.set('new first field'); a.set(a.value + 1);`,
          ),
          { env: { DIR: dir } },
        );
        await second.ready;
        const snap = r.read();
        assert.deepEqual(
          snap.fields.map((f) => [f.label, f.value]),
          [
            ['z', 'new first field'],
            ['b', 'one'],
            ['a', 2],
          ],
        );
        if (format === 2) assert.equal(snap.writer.pid, second.pid, 'the header names the new writer');
      } finally {
        r.close();
      }
    } finally {
      first.child.kill('SIGKILL');
      second?.child.kill('SIGKILL');
    }
  });
}
