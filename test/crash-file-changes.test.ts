/**
 * Files changing under a reader (in this process) by another process: truncated
 * and regrown over and over, replaced by a rename, grown far past the first
 * mapping. And a file truncated under its own writer. No SIGBUS, no foreign
 * exception: a value, or a typed error that says what happened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MmstatsError, StatsReader, type Snapshot } from '../src/index.js';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';

function valueOf(snap: Snapshot, label: string): unknown {
  return snap.fields.find((f) => f.label === label)?.value;
}

const WRITER = `
const stats = openStats({ name: 'Changing', path: env.DIR, filename: env.NAME || undefined, defaultFields: false, format: Number(env.FORMAT || 2) });
const c = stats.add('c', field.counter());
const tag = stats.add('tag', field.string({ size: 16 }));
tag.set(env.TAG || 'first');
on('incr', (n) => { c.incr(n); return c.value; });
let grown = 0;
on('grow', (n) => {
  for (let i = 0; i < n; i++, grown++) stats.add('g.' + grown, field.counter()).incr(grown);
  return stats.labels.length;
});
on('hammer', (n) => {
  // Keep writing whatever happens to the file underneath.
  for (let i = 0; i < n; i++) { c.incr(); tag.set('t' + (i % 100)); }
  return c.value;
});
ready(stats.path);
`;

const VANDAL = `
import fs from 'node:fs';
let stop = false;
on('truncateLoop', async (file, size) => {
  let rounds = 0;
  while (!stop) {
    fs.truncateSync(file, rounds % 2 === 0 ? 0 : 100);
    await new Promise((r) => setTimeout(r, 1));
    fs.truncateSync(file, size);
    await new Promise((r) => setTimeout(r, 1));
    rounds++;
  }
  return rounds;
});
on('stop', () => { stop = true; });
on('truncate', (file, size) => { fs.truncateSync(file, size); });
on('renameOver', (from, to) => { fs.renameSync(from, to); });
ready();
`;

for (const format of [2, 1] as const) {
  test(`format ${format}: reads racing a process that truncates and regrows the file never fault; each gives values or ERR_MMSTATS_TRUNCATED`, async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER, { env: { DIR: dir, FORMAT: String(format) } });
    const vandal = runScript(VANDAL);
    try {
      const file = (await w.ready) as string;
      await w.call('incr', 5);
      await vandal.ready;
      const reader = StatsReader.open(file);
      const size = (await import('node:fs')).statSync(file).size;
      const looping = vandal.call('truncateLoop', file, size);
      const outcomes: Record<string, number> = {};
      const end = Date.now() + 1500;
      while (Date.now() < end) {
        let key: string;
        try {
          reader.read();
          key = 'ok';
        } catch (err) {
          assert.ok(err instanceof MmstatsError, `only MmstatsError, not ${String(err)}`);
          key = err.code;
        }
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        await new Promise((r) => setImmediate(r));
      }
      await vandal.call('stop');
      const rounds = (await looping) as number;
      reader.close();
      assert.ok(rounds > 10, `the file was truncated ${rounds} times`);
      assert.ok((outcomes.ERR_MMSTATS_TRUNCATED ?? 0) > 0, `some reads saw the truncation: ${JSON.stringify(outcomes)}`);
      for (const code of Object.keys(outcomes)) {
        // A header zeroed by the truncation reads as a file being made: a typed, clear state too.
        assert.ok(
          ['ok', 'ERR_MMSTATS_TRUNCATED', 'ERR_MMSTATS_MALFORMED', 'ERR_MMSTATS_INITIALISING'].includes(code),
          `unexpected ${code}`,
        );
      }
    } finally {
      await vandal.end();
      await w.end();
    }
  });
}

test('a file replaced by a rename: the open reader keeps reading the old writer whole; a new reader gets the new one', async () => {
  const dir = tempStatsDir();
  const oldW = runScript(WRITER, { env: { DIR: dir, NAME: 'svc.mmstats', TAG: 'old' } });
  const newW = runScript(WRITER, { env: { DIR: dir, NAME: 'svc.next', TAG: 'new' } });
  const vandal = runScript(VANDAL);
  try {
    const file = (await oldW.ready) as string;
    const next = (await newW.ready) as string;
    await vandal.ready;
    await oldW.call('incr', 1);
    await newW.call('incr', 1000);
    const reader = StatsReader.open(file);
    await vandal.call('renameOver', next, file);
    await oldW.call('incr', 1);
    const snap = reader.read();
    assert.equal(valueOf(snap, 'tag'), 'old');
    assert.equal(valueOf(snap, 'c'), 2, 'updates of the old writer still show');
    assert.equal(snap.writer.pid, oldW.pid);
    assert.equal(snap.writer.alive, true);
    reader.close();
    const fresh = StatsReader.open(file);
    const now = fresh.read();
    fresh.close();
    assert.equal(valueOf(now, 'tag'), 'new');
    assert.equal(valueOf(now, 'c'), 1000);
    assert.equal(now.writer.pid, newW.pid);
  } finally {
    await vandal.end();
    await oldW.end();
    await newW.end();
  }
});

test(
  'a file grown by its writer far past its first mapping is followed by an open reader: every new field, no fault',
  { timeout: 120_000 },
  async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER, { env: { DIR: dir } });
    try {
      const file = (await w.ready) as string;
      const reader = StatsReader.open(file);
      const size0 = (await import('node:fs')).statSync(file).size;
      // Read all along while the writer grows the file in steps, through its mapping reserve.
      let total = 2;
      for (let step = 0; step < 4; step++) {
        total = (await w.call('grow', 20_000)) as number;
        const snap = reader.read();
        assert.equal(snap.fields.length, total);
      }
      const size1 = (await import('node:fs')).statSync(file).size;
      assert.ok(size1 > 4 * 1024 * 1024, `the file grew from ${size0} to ${size1} bytes`);
      const snap = reader.read();
      // Each field g.N holds N: spot-check values across the whole file.
      for (const f of snap.fields.filter((_, i) => i % 997 === 0)) {
        if (f.label.startsWith('g.')) assert.equal(f.value, Number(f.label.slice(2)));
      }
      reader.close();
    } finally {
      await w.end();
    }
  },
);

test('a file truncated under its own writer by another process: the writer keeps updating without a crash', async () => {
  const dir = tempStatsDir();
  const w = runScript(WRITER, { env: { DIR: dir } });
  const vandal = runScript(VANDAL);
  try {
    const file = (await w.ready) as string;
    await vandal.ready;
    await vandal.call('truncate', file, 0);
    // Every store now lands on a page past the end of the file: the fault guard keeps the writer alive.
    assert.equal(await w.call('hammer', 100_000), 100_000);
    await vandal.call('truncate', file, 0);
    assert.equal(await w.call('hammer', 1000), 101_000);
    // Readers see an empty file: being made, or gone; never a crash.
    await waitFor(() => {
      try {
        StatsReader.open(file).close();
        return false;
      } catch (err) {
        return err instanceof MmstatsError;
      }
    });
  } finally {
    await vandal.end();
    assert.equal(await w.end(), 0, `the writer exited normally: ${w.stderr()}`);
  }
});
