/**
 * Summary quantiles from log-linear histograms: within 2^-7 (0.78%) of the exact
 * quantile of the values in the window, for several distributions; the sliding
 * window forgets what is older than maxAgeSeconds; reset and remove.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as mine from '../src/integrations/prom-client/index.js';
import { tempStatsDir } from './helpers/proc.js';
import { DISTRIBUTIONS, rng } from '../bench/distributions.js';

// The drop-in publishes its metrics in a file: this test's own directory, not the user's.
process.env.MMSTATS_PATH = tempStatsDir();

const PERCENTILES = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];

/** The exact quantile as nearest rank over the sorted values. */
function exact(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

async function quantiles(summary: any): Promise<number[]> {
  const { values } = await summary.get();
  return PERCENTILES.map((q) => values.find((v: any) => v.labels.quantile === q).value);
}

describe('Summary quantiles', () => {
  for (const [name, draw] of Object.entries(DISTRIBUTIONS)) {
    test(`${name}: each quantile within 0.78% of the exact one`, async () => {
      const r = rng(42);
      const values = Array.from({ length: 20_000 }, () => draw(r));
      const s = new mine.Summary({ name: 's', help: 's', percentiles: PERCENTILES, registers: [] });
      for (const v of values) s.observe(v);
      const sorted = [...values].sort((a, b) => a - b);
      const got = await quantiles(s);
      PERCENTILES.forEach((q, i) => {
        const want = exact(sorted, q);
        assert.ok(Math.abs(got[i]! - want) <= want * 2 ** -7 + 1e-12, `q=${q}: ${got[i]} against ${want}`);
      });
      const { values: samples } = await s.get();
      assert.equal(samples.find((v: any) => v.metricName === 's_count')!.value, values.length);
    });
  }

  test('the window forgets values older than maxAgeSeconds', async () => {
    const s = new mine.Summary({ name: 'w', help: 'w', percentiles: [0.5], maxAgeSeconds: 1, ageBuckets: 2, registers: [] });
    for (let i = 0; i < 100; i++) s.observe(100);
    assert.equal((await quantiles2(s))[0], 100);
    // Sleeping may take longer, never shorter: after 1.6 s every slot that held them was emptied.
    await new Promise((r) => setTimeout(r, 1600));
    for (let i = 0; i < 10; i++) s.observe(1);
    assert.equal((await quantiles2(s))[0], 1);
    const { values } = await s.get();
    // _count and _sum are totals, as prom-client's.
    assert.equal(values.find((v: any) => v.metricName === 'w_count')!.value, 110);
  });

  test('reset empties the window; labels, remove', async () => {
    const s = new mine.Summary({ name: 'l', help: 'l', labelNames: ['op'], percentiles: [0.5], registers: [] });
    s.observe({ op: 'a' }, 5);
    s.labels('b').observe(7);
    s.reset();
    const { values } = await s.get();
    assert.deepEqual(
      values.map((v: any) => v.value),
      [0, 0, 0, 0, 0, 0],
    );
    s.remove('a');
    assert.equal((await s.get()).values.length, 3);
  });
});

async function quantiles2(summary: any): Promise<number[]> {
  const { values } = await summary.get();
  return values.filter((v: any) => v.labels.quantile !== undefined).map((v: any) => v.value);
}
