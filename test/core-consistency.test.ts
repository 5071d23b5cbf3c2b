/**
 * Values larger than a word are never read torn: a writer in another process
 * updates strings, compounds and 64-bit integers as fast as it can while this
 * process reads them, and every value read must be one the writer wrote whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsReader } from '../src/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

const HOT_WRITER = `
const stats = openStats({ name: 'Hot', path: env.DIR, defaultFields: false });
const s = stats.add('s', field.string({ size: 100 }));
const pair = stats.add('pair', field.compound(['a', 'b', 'c']));
const big = stats.add('big', field.int64());
let i = 0;
let stop = false;
on('stop', () => { stop = true; return i; });
ready(stats.path);
const spin = () => {
  // Bursts of updates, yielding so that 'stop' can arrive.
  for (let k = 0; k < 20000 && !stop; k++, i++) {
    // Each string is one repeated character, of a length that changes with it.
    const ch = String.fromCharCode(97 + (i % 26));
    s.set(ch.repeat(1 + (i % 100)));
    pair.set({ a: i, b: -i, c: i * 2 });
    // Crosses 2^32 boundaries: a torn 64-bit value would mix two high words.
    big.set((i % 2 === 0 ? 0xffffffff : 0x100000000) * (1 + (i % 7)));
  }
  if (!stop) setImmediate(spin);
};
spin();
`;

test('strings, compounds and 64-bit integers written in a hot loop in another process are never read torn', async () => {
  const dir = tempStatsDir();
  const w = runScript(HOT_WRITER, { env: { DIR: dir } });
  try {
    const file: string = await w.ready;
    const r = StatsReader.open(file);
    const problems: string[] = [];
    let reads = 0;
    let busy = 0;
    try {
      const end = Date.now() + 2000;
      while (Date.now() < end) {
        for (const f of r.read().fields) {
          if (f.value === null) {
            busy++; // "kept changing while read": allowed, never a torn value
            continue;
          }
          if (f.label === 's') {
            const v = f.value as string;
            if (v.length > 0 && (v.length > 100 || v !== v[0]!.repeat(v.length))) problems.push(`string ${JSON.stringify(v)}`);
          } else if (f.label === 'pair') {
            const { a, b, c } = f.value as { a: number; b: number; c: number };
            if (b !== -a || c !== 2 * a) problems.push(`pair ${a} ${b} ${c}`);
          } else if (f.label === 'big') {
            const v = Number(f.value);
            const k1 = v / 0xffffffff;
            const k2 = v / 0x100000000;
            const whole = (k: number) => Number.isInteger(k) && k >= 0 && k <= 7;
            if (!whole(k1) && !whole(k2)) problems.push(`big ${v}`);
          }
        }
        reads++;
        if (reads % 200 === 0) await new Promise((res) => setImmediate(res));
      }
    } finally {
      r.close();
    }
    const writes: number = await w.call('stop');
    assert.deepEqual(problems.slice(0, 5), [], `${problems.length} torn values in ${reads} reads`);
    assert.ok(writes > 1000 && reads > 100, `the test exercised something (writes ${writes}, reads ${reads})`);
    assert.ok(busy < reads, `most reads got a value (busy ${busy} of ${reads})`);
  } finally {
    await w.end();
  }
});
