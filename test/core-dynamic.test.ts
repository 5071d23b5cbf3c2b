/**
 * Dynamic fields: fields added to an open file while a reader in another process
 * holds it, and files that outgrow their first size and their mapping reserve.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { field, openStats, StatsReader } from '../src/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

const FIRST_SIZE = 16 << 10;
const RESERVE = 4 << 20;

/** A writer that adds fields on request and updates them by label. */
const WRITER = `
const stats = openStats({ name: 'Dyn', path: env.DIR, format: Number(env.FORMAT ?? 2) });
const hits = stats.add('hits', field.counter());
on('add', (label, kind, value) => { stats.add(label, field[kind]()).set(value); });
on('addMany', (prefix, n, size) => {
  for (let i = 0; i < n; i++) {
    if (size) stats.add(prefix + i, field.string({ size })).set(prefix + i + ':' + 'x'.repeat(size - 20));
    else stats.add(prefix + i, field.uint32()).set(i);
  }
});
on('hit', (n) => { for (let i = 0; i < n; i++) hits.incr(); return hits.value; });
on('set', (label, value) => { stats.get(label).set(value); });
on('value', (label) => stats.get(label).value);
ready(stats.path);
`;

function valuesOf(r: StatsReader): Map<string, unknown> {
  return new Map(r.read().fields.map((f) => [f.label, f.value]));
}

for (const format of [2, 1] as const) {
  test(`format ${format}: a field added in the writer process appears in a reader that already holds the file`, async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER, { env: { DIR: dir, FORMAT: String(format) } });
    try {
      const file: string = await w.ready;
      const r = StatsReader.open(file);
      try {
        const before = r.read();
        assert.equal(
          before.fields.some((f) => f.label === 'later'),
          false,
        );
        await w.call('add', 'later', 'gauge', 2);
        const after = r.read();
        assert.equal(after.fields.find((f) => f.label === 'later')?.value, 2);
        assert.equal(after.fields.length, before.fields.length + 1);
        assert.notEqual(after.generation, before.generation, 'generation changes when a field is added');
        await w.call('set', 'later', 3.5);
        assert.equal(valuesOf(r).get('later'), 3.5);
      } finally {
        r.close();
      }
    } finally {
      await w.end();
    }
  });
}

test('a field added here appears in a reader in another process that keeps the file open', async () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Dyn', path: dir });
  const reader = runScript(`
let r;
on('open', (file) => { r = StatsReader.open(file); });
on('read', () => Object.fromEntries(r.read().fields.map((f) => [f.label, f.value])));
on('generation', () => r.read().generation);
ready();
`);
  try {
    await reader.ready;
    await reader.call('open', stats.path);
    const g1: number = await reader.call('generation');
    assert.equal((await reader.call('read')).later, undefined);
    stats.add('later', field.gauge()).set(2);
    stats.add('name', field.string({ size: 16 })).set('ünï');
    const v = await reader.call('read');
    assert.equal(v.later, 2);
    assert.equal(v.name, 'ünï');
    assert.notEqual(await reader.call('generation'), g1);
  } finally {
    stats.remove();
    await reader.end();
  }
});

test('2000 fields grow the file past 16 KiB while a reader holds it; values stay right on both sides', async () => {
  const dir = tempStatsDir();
  const w = runScript(WRITER, { env: { DIR: dir } });
  try {
    const file: string = await w.ready;
    const r = StatsReader.open(file);
    try {
      assert.equal(fs.statSync(file).size, FIRST_SIZE);
      await w.call('hit', 3);
      await w.call('addMany', 'n.', 2000, 0);
      assert.ok(fs.statSync(file).size > FIRST_SIZE, 'file grew');
      assert.equal(await w.call('hit', 4), 7, 'a field placed before the growth still counts');
      const v = valuesOf(r);
      assert.equal(v.get('hits'), 7);
      for (const i of [0, 1, 999, 1998, 1999]) assert.equal(v.get(`n.${i}`), i);
      assert.equal([...v.keys()].filter((k) => k.startsWith('n.')).length, 2000);
    } finally {
      r.close();
    }
  } finally {
    await w.end();
  }
});

for (const format of [2, 1] as const) {
  test(`format ${format}: growing beyond the mapping reserve (64 KiB, then 4x the size) remaps the writer; both sides stay right`, async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER, { env: { DIR: dir, FORMAT: String(format) } });
    try {
      const file: string = await w.ready;
      const r = StatsReader.open(file);
      try {
        await w.call('hit', 1);
        await w.call('addMany', 'big.', 40, 60000); // ~2.4 MB, inside the reserve
        assert.equal(valuesOf(r).get('big.39'), 'big.39:' + 'x'.repeat(60000 - 20));
        await w.call('addMany', 'more.', 40, 60000); // past 4 MiB: the writer must remap, several times
        const size = fs.statSync(file).size;
        assert.ok(size > RESERVE, `file is ${size} bytes`);
        assert.equal(await w.call('hit', 2), 3, 'a field placed before the remap still counts');
        await w.call('set', 'big.0', 'changed after the remap');
        assert.equal(await w.call('value', 'big.0'), 'changed after the remap');
        const v = valuesOf(r);
        assert.equal(v.get('hits'), 3);
        assert.equal(v.get('big.0'), 'changed after the remap');
        assert.equal(v.get('big.1'), 'big.1:' + 'x'.repeat(60000 - 20));
        assert.equal(v.get('more.39'), 'more.39:' + 'x'.repeat(60000 - 20));
        // A reader opened after the growth sees the same.
        const r2 = StatsReader.open(file);
        try {
          assert.deepEqual(valuesOf(r2), v);
        } finally {
          r2.close();
        }
      } finally {
        r.close();
      }
    } finally {
      await w.end();
    }
  });
}

for (const format of [2, 1] as const) {
  test(`format ${format}: a reader reading in a loop while the writer adds fields and grows the file never sees an error`, async () => {
    const dir = tempStatsDir();
    const w = runScript(
      `
const stats = openStats({ name: 'Race', path: env.DIR, format: ${format}, defaultFields: false });
let n = 0;
let stop = false;
on('stop', () => { stop = true; return n; });
ready(stats.path);
// Add fields in small bursts, yielding between them so the test can talk to us.
const grow = () => {
  if (stop || n >= 3000) return;
  for (let i = 0; i < 20; i++, n++) stats.add('f' + n, field.string({ size: 200 })).set('v' + n);
  setImmediate(grow);
};
grow();
`,
      { env: { DIR: dir } },
    );
    try {
      const file: string = await w.ready;
      const r = StatsReader.open(file);
      const errors: string[] = [];
      let reads = 0;
      let last = 0;
      try {
        const end = Date.now() + 3000;
        while (Date.now() < end && last < 3000) {
          try {
            const snap = r.read();
            last = snap.fields.length;
            // Every field but the newest was set before the next was added; the newest may not be set yet.
            for (let i = 0; i < snap.fields.length - 1; i++) {
              if (snap.fields[i]!.value !== 'v' + i) errors.push(`field f${i} = ${String(snap.fields[i]!.value)}`);
            }
          } catch (err) {
            errors.push(String((err as Error).message));
          }
          reads++;
          if (reads % 50 === 0) await new Promise((res) => setImmediate(res));
        }
      } finally {
        r.close();
      }
      const added: number = await w.call('stop');
      assert.deepEqual(errors.slice(0, 5), [], `${errors.length} of ${reads} reads failed`);
      assert.ok(added > 0 && reads > 0);
    } finally {
      await w.end();
    }
  });
}
