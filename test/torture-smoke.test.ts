/**
 * A short run of the race torture (bench/torture.ts): a writer process updating
 * hot fields flat out, a reader process checking every value it reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  SnapshotChecker,
  TORTURE_SCRIPT,
  checkedText,
  childText,
  judge,
  labelCode,
  partsAreConsistent,
  textIsConsistent,
  wordIsConsistent,
  type TortureResult,
} from '../bench/torture.js';

const run = promisify(execFile);

test('the torture checks reject torn values and accept whole ones', () => {
  // Whole values, as the writer writes them.
  assert.ok(wordIsConsistent(7 * 4294967297));
  assert.ok(wordIsConsistent(0x001f_ffff_001f_ffffn));
  assert.ok(textIsConsistent(checkedText(42)));
  assert.ok(partsAreConsistent({ n: 5, twice: 10, neg: -5 }));
  // Torn values: words from two writes, a string cut or spliced, parts from two updates.
  assert.equal(wordIsConsistent(7 * 2 ** 32 + 8), false);
  assert.equal(wordIsConsistent(0x0000_0001_0000_0002n), false);
  const a = checkedText(1);
  const b = checkedText(2);
  assert.equal(textIsConsistent(a.slice(0, 10) + b.slice(10)), false);
  assert.equal(textIsConsistent(a.slice(0, a.length - 3)), false);
  assert.equal(textIsConsistent(a + '\0\0'), false);
  assert.equal(partsAreConsistent({ n: 5, twice: 12, neg: -6 }), false);
  // A counter going backwards is caught per reader.
  const c = new SnapshotChecker();
  c.check([{ label: 'hot.count', value: 10 }]);
  c.check([{ label: 'hot.count', value: 9 }]);
  c.check([{ label: 'hot.text', value: null }]);
  assert.equal(c.counts.inconsistent.count, 1);
  assert.equal(c.counts.busy, 1);
  assert.equal(c.counts.reads, 3);
});

test('format 2 under a flat-out writer: zero inconsistent reads in a smoke run', { timeout: 120_000 }, async () => {
  const { stdout } = await run(process.execPath, [TORTURE_SCRIPT, '--smoke', '--format', '2', '--seconds', '3', '--json'], {
    maxBuffer: 1 << 20,
  });
  const [r] = JSON.parse(stdout) as TortureResult[];
  assert.ok(r, 'the torture printed a result');
  assert.equal(r.format, 2);
  // The run must have exercised both sides, or zero means nothing.
  assert.ok(r.writes > 10_000, `writer made ${r.writes} rounds`);
  assert.ok(r.totalReads - r.busy > 1_000, `readers got ${r.totalReads - r.busy} settled values`);
  assert.deepEqual(r.inconsistent, { word: 0, count: 0, text: 0, parts: 0 }, `examples: ${r.examples.join(' | ')}`);
});

test('the family checks tell a value under another label set, a torn one and a fresh child apart', () => {
  assert.equal(judge('fam.code', { a: 'a1', b: 'b2' }, labelCode('a1', 'b2')), 'ok');
  assert.equal(judge('fam.code', { a: 'a1', b: 'b2' }, labelCode('a2', 'b1')), 'misattributed');
  assert.equal(judge('fam.code', { a: 'a1', b: 'b2' }, 0), 'fresh');
  assert.equal(judge('fam.text', { k: 'k1' }, childText('k1', 5)), 'ok');
  assert.equal(judge('fam.text', { k: 'k1' }, childText('k2', 5)), 'misattributed');
  assert.equal(judge('fam.text', { k: 'k1' }, childText('k1', 5).slice(0, 6) + childText('k1', 6).slice(6)), 'inconsistent');
  const c = labelCode('k3', 'k3');
  assert.equal(judge('fam.hist', { k: 'k3' }, { count: 2, sum: 2 * c, min: c, max: c }), 'ok');
  const other = labelCode('k4', 'k4');
  assert.equal(judge('fam.hist', { k: 'k3' }, { count: 1, sum: other, min: other, max: other }), 'misattributed');
  assert.equal(judge('fam.hist', { k: 'k3' }, { count: 2, sum: c + other, min: c, max: other }), 'inconsistent');
  assert.equal(judge('fam.hist', { k: 'k3' }, { count: 0, sum: 0, min: 0, max: 0 }), 'fresh');
});

test(
  'families under churn with slot reuse: no value under another label set, none torn, in a smoke run',
  { timeout: 120_000 },
  async () => {
    const { stdout } = await run(process.execPath, [TORTURE_SCRIPT, '--families', '--seconds', '3', '--reads', '2000000', '--json'], {
      maxBuffer: 1 << 20,
    });
    const [r] = JSON.parse(stdout) as TortureResult[];
    assert.ok(r, 'the torture printed a result');
    assert.ok((r.churn ?? 0) > 1_000, `the writer added or removed ${r.churn} children`);
    assert.ok(r.totalReads - r.busy > 1_000, `readers got ${r.totalReads - r.busy} settled child values`);
    assert.equal(r.misattributed, 0, `examples: ${r.examples.join(' | ')}`);
    assert.equal(r.inconsistentTotal, 0, `examples: ${r.examples.join(' | ')}`);
    assert.equal(r.familyErrors, 0, `examples: ${r.examples.join(' | ')}`);
  },
);
