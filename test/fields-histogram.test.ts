/**
 * Histograms: the bucket layout and its `le` rule, percentiles within their
 * documented error on 10^6 samples written by another process, explicit bounds,
 * and what readers derive (src/reader/histogram.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  expandValues,
  field,
  openStats,
  percentile,
  percentiles,
  MmstatsError,
  StatsReader,
  type FieldValue,
  type HistogramValue,
} from '../src/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

/**
 * Seeded samples of a distribution. Sent as source text to the writer process, so
 * both processes draw the very same numbers: it must stay self-contained.
 */
function makeSamples(dist: string, n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const rand = (): number => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (dist === 'uniform') out[i] = 1 + rand() * 999;
    else if (dist === 'exponential') out[i] = -Math.log(1 - rand());
    else if (dist === 'lognormal') out[i] = Math.exp(normal());
    else if (dist === 'bimodal') out[i] = rand() < 0.5 ? Math.abs(10 + normal()) : Math.abs(1000 + 50 * normal());
    else throw new Error(`unknown distribution ${dist}`);
  }
  return out;
}

const DISTRIBUTIONS = ['uniform', 'exponential', 'lognormal', 'bimodal'];
const N = 1_000_000;

function histogramOf(snap: { fields: readonly FieldValue[] }, label: string): HistogramValue {
  const f = snap.fields.find((x) => x.label === label);
  assert.ok(f, `field ${label} is in the file`);
  assert.equal(f.error, undefined);
  return f.value as HistogramValue;
}

test('p50, p90, p99 and p99.9 of 10^6 samples written by another process are within 0.78% (and so 1%) of the exact values', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
    const makeSamples = ${makeSamples.toString()};
    const stats = openStats({ name: 'pct', path: env.DIR });
    const hs = {};
    for (const d of ${JSON.stringify(DISTRIBUTIONS)}) hs[d] = stats.add('h.' + d, field.histogram());
    on('fill', (d, n, seed) => {
      const xs = makeSamples(d, n, seed);
      const h = hs[d];
      for (let i = 0; i < n; i++) h.record(xs[i]);
      return n;
    });
    ready(stats.path);
  `,
    { env: { DIR: dir } },
  );
  const file = (await w.ready) as string;
  try {
    for (const [k, dist] of DISTRIBUTIONS.entries()) {
      const seed = 1234 + k;
      await w.call('fill', dist, N, seed);
      const xs = makeSamples(dist, N, seed);
      let sum = 0;
      for (let i = 0; i < N; i++) sum += xs[i]!;
      const sorted = xs.slice().sort();
      const reader = StatsReader.open(file);
      const h = histogramOf(reader.read(), `h.${dist}`);
      reader.close();
      assert.equal(h.count, N);
      assert.equal(h.sum, sum, 'the sum is the same float sum, added in the same order');
      assert.equal(h.min, sorted[0]);
      assert.equal(h.max, sorted[N - 1]);
      assert.equal(
        h.buckets.reduce((a, b) => a + b.count, 0),
        N,
      );
      const qs = [50, 90, 99, 99.9];
      const got = percentiles(h, qs);
      qs.forEach((q, i) => {
        const exact = sorted[Math.ceil((q / 100) * N) - 1]!;
        const err = Math.abs(got[i]! - exact) / exact;
        assert.ok(err <= 2 ** -7 + 1e-12, `${dist} p${q}: ${got[i]} vs exact ${exact}, relative error ${err}`);
        assert.ok(err < 0.01);
      });
      assert.equal(percentile(h, 0), sorted[0]);
      assert.equal(percentile(h, 100), sorted[N - 1]);
    }
  } finally {
    await w.end();
  }
});

test('a log-linear bucket counts the values up to and including its upper bound, and nothing from the bucket below', async () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'le', path: dir });
  try {
    const h = stats.add('h', field.histogram({ lowest: 1, highest: 4, precision: 2 }));
    // Bounds: 1 | 1.25 1.5 1.75 2 | 2.5 3 3.5 4 | Infinity
    for (const v of [-3, 0, 1, 1.0000001, 1.25, 1.2500001, 2, 2.0000001, 4, 4.0000001, 1e300]) h.record(v);
    h.record(NaN);
    const r = runScript(
      `on('read', (f) => { const r = StatsReader.open(f); const v = r.read().fields.find((x) => x.label === 'h'); r.close(); return v; }); ready();`,
    );
    await r.ready;
    const got = (await r.call('read', stats.path)) as FieldValue;
    await r.end();
    const hv = got.value as HistogramValue;
    assert.equal(got.type, 'histogram');
    assert.equal(got.kind, 'histogram');
    assert.deepEqual(
      hv.buckets.map((b) => b.le),
      [1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, null], // +Infinity travels as null in JSON
    );
    assert.deepEqual(
      hv.buckets.map((b) => b.count),
      [3, 2, 1, 0, 1, 1, 0, 0, 1, 2],
    );
    assert.equal(hv.count, 11, 'NaN is not recorded');
    assert.equal(hv.min, -3);
    assert.equal(hv.max, 1e300);
    assert.equal(hv.last, 1e300);
  } finally {
    stats.remove();
  }
});

test('every bound of the default layout lands in its own bucket and the next double in the next one', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'bounds', path: dir });
  try {
    const h = stats.add('h', field.histogram()) as any;
    const bounds: Float64Array = h.bounds;
    assert.ok(bounds.length > 5000 && bounds.length <= 8190);
    const next = (x: number) => {
      const f = new Float64Array([x]);
      const u = new BigUint64Array(f.buffer);
      u[0]! += 1n;
      return f[0]!;
    };
    for (let i = 0; i < bounds.length - 1; i++) {
      assert.equal(h.bucketOf(bounds[i]), i, `bound ${bounds[i]}`);
      assert.equal(h.bucketOf(next(bounds[i]!)), i + 1, `just above ${bounds[i]}`);
    }
    for (let i = 1; i < bounds.length - 1; i++) {
      assert.ok(bounds[i]! / bounds[i - 1]! - 1 <= 2 ** -7, 'no bucket is wider than 2^-7 of its lower bound');
    }
  } finally {
    stats.remove();
  }
});

test('explicit bounds count like Prometheus buckets and interpolate inside a bucket', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
    const stats = openStats({ name: 'explicit', path: env.DIR });
    const h = stats.add('latency', field.histogram({ buckets: [0.1, 0.5, 1], unit: 'seconds', help: 'request latency' }));
    on('record', (xs) => { for (const x of xs) h.record(x); });
    on('reset', () => h.reset());
    ready(stats.path);
  `,
    { env: { DIR: dir } },
  );
  const file = (await w.ready) as string;
  try {
    await w.call('record', [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 2]);
    const reader = StatsReader.open(file);
    const f = reader.read().fields.find((x) => x.label === 'latency')!;
    assert.equal(f.unit, 'seconds');
    assert.equal(f.help, 'request latency');
    const h = f.value as HistogramValue;
    assert.deepEqual(
      h.buckets.map((b) => [b.le, b.count]),
      [
        [0.1, 2],
        [0.5, 4],
        [1, 1],
        [Infinity, 1],
      ],
    );
    // Rank 4 of 8 is the 2nd of 4 values in (0.1, 0.5]: halfway through the bucket.
    assert.equal(percentile(h, 50), 0.1 + (0.5 - 0.1) * (2 / 4));
    // The top bucket is bounded by the observed max, not by +Infinity.
    assert.equal(percentile(h, 99.9), 1 + ((2 - 1) * ((99.9 / 100) * 8 - 7)) / 1);
    const named = Object.fromEntries(expandValues(f).map((e) => [e.suffix, e.value]));
    assert.equal(named.count, 8);
    assert.equal(named.mean, 4.25 / 8);
    assert.equal(named.min, 0.05);
    assert.equal(named.max, 2);
    assert.equal(named.p50, 0.30000000000000004);
    assert.deepEqual(Object.keys(named), ['count', 'sum', 'mean', 'min', 'max', 'last', 'p50', 'p90', 'p99', 'p99.9']);
    await w.call('reset');
    const empty = reader.read().fields.find((x) => x.label === 'latency')!;
    reader.close();
    const e = Object.fromEntries(expandValues(empty).map((x) => [x.suffix, x.value]));
    assert.equal(e.count, 0);
    assert.ok(Number.isNaN(e.mean) && Number.isNaN(e.p99) && Number.isNaN(e.min), 'an empty histogram has no mean, min or percentiles');
  } finally {
    await w.end();
  }
});

test('a histogram with a moving mean exposes it as an extra value', async () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'moving', path: dir });
  try {
    const h = stats.add('h', field.histogram({ moving: 3 }));
    for (const v of [1, 2, 3, 4, 5]) h.record(v);
    assert.equal(h.movingMean, 4);
    const r = runScript(
      `on('read', (f) => { const r = StatsReader.open(f); const v = r.read().fields.find((x) => x.label === 'h'); r.close(); return mmstats.expandValues(v); }); ready();`,
    );
    await r.ready;
    const got = (await r.call('read', stats.path)) as { suffix: string; value: number }[];
    await r.end();
    assert.deepEqual(
      got.find((e) => e.suffix === 'moving_mean'),
      { suffix: 'moving_mean', value: 4 },
    );
    assert.equal(got.find((e) => e.suffix === 'mean')!.value, 3);
  } finally {
    stats.remove();
  }
});

test('histogram options that cannot work are refused with a message naming the problem', () => {
  assert.throws(() => field.histogram({ lowest: 1e-300, highest: 1e300 }), /needs \d+ buckets, more than 8190/);
  assert.throws(() => field.histogram({ lowest: 0 }), /lowest/);
  assert.throws(() => field.histogram({ lowest: 10, highest: 5 }), /highest must be above lowest/);
  assert.throws(() => field.histogram({ precision: 0 }), /precision/);
  assert.throws(() => field.histogram({ buckets: [1, 1] }), /strictly ascending/);
  assert.throws(() => field.histogram({ buckets: [1, Infinity] }), /not finite/);
  assert.throws(() => field.histogram({ buckets: [] }), /bucket bounds/);
  assert.throws(() => field.histogram({ moving: -1 }), /moving window size/);
});

test('a histogram cannot be written in format 1: ERR_MMSTATS_UNSUPPORTED names the field', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'v1hist', path: dir, format: 1 });
  try {
    assert.throws(
      () => stats.add('latency', field.histogram()),
      (err: unknown) => err instanceof MmstatsError && err.code === 'ERR_MMSTATS_UNSUPPORTED' && /latency/.test(err.message),
    );
  } finally {
    stats.remove();
  }
});

test('percentiles of hand-made histograms: empty, one value, out-of-range requests', () => {
  const h = (counts: number[], les: number[], min: number, max: number): HistogramValue => ({
    count: counts.reduce((a, b) => a + b, 0),
    sum: 0,
    min,
    max,
    last: max,
    buckets: les.map((le, i) => ({ le, count: counts[i]! })),
  });
  assert.ok(Number.isNaN(percentile(h([0, 0], [1, Infinity], 0, 0), 50)));
  const one = h([0, 1, 0], [1, 2, Infinity], 1.5, 1.5);
  assert.deepEqual(percentiles(one, [0, 50, 99.9, 100]), [1.5, 1.5, 1.5, 1.5]);
  const two = h([1, 1], [1, Infinity], 0.5, 7);
  assert.deepEqual(percentiles(two, [100, 25, 75]), [7, 0.5 + 0.5 * 0.5, 1 + 6 * 0.5]);
  assert.throws(() => percentile(two, 101), /from 0 to 100/);
  assert.throws(() => percentile(two, NaN), /from 0 to 100/);
});
