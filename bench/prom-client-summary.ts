/**
 * Summary accuracy: prom-client's t-digest against mmstats/prom-client's log-linear
 * histograms, on the same seeded values. For each distribution, the largest error
 * over the quantiles 0.01 ... 0.999, relative to the exact (nearest-rank) quantile.
 *
 *   node dist/bench/prom-client-summary.js
 */
import { createRequire } from 'node:module';
import * as mine from '../src/integrations/prom-client/index.js';
import { table } from './harness.js';
import { DISTRIBUTIONS, rng } from './distributions.js';

const theirs = createRequire(import.meta.url)('prom-client');
const PERCENTILES = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];
const N = 20_000;

let made = 0;
async function maxError(client: any, values: number[], sorted: number[]): Promise<number> {
  const s = new client.Summary({ name: `s_${made++}`, help: 's', percentiles: PERCENTILES, registers: [] });
  for (const v of values) s.observe(v);
  const got = (await s.get()).values;
  let worst = 0;
  for (const q of PERCENTILES) {
    const want = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
    const v = got.find((x: any) => x.labels.quantile === q).value;
    worst = Math.max(worst, Math.abs(v - want) / want);
  }
  return worst;
}

const rows = [['distribution (20,000 values)', 'prom-client t-digest', 'mmstats/prom-client']];
for (const [name, draw] of Object.entries(DISTRIBUTIONS)) {
  const r = rng(42);
  const values = Array.from({ length: N }, () => draw(r));
  const sorted = [...values].sort((a, b) => a - b);
  const pct = (e: number) => `${(e * 100).toFixed(3)}%`;
  rows.push([name, pct(await maxError(theirs, values, sorted)), pct(await maxError(mine, values, sorted))]);
}
console.log(`Largest relative error of the quantiles ${PERCENTILES.join(', ')} (exact: nearest rank)`);
console.log(table(rows));
