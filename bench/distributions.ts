/**
 * Seeded value distributions for Summary accuracy: the same values on every run,
 * shared by the accuracy test (test/prom-client-summary.test.ts) and its benchmark
 * (bench/prom-client-summary.ts), so both judge the same data.
 */

/** A seeded generator (mulberry32): the same values on every run. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Named distributions, each drawing from a uniform generator. */
export const DISTRIBUTIONS: Record<string, (r: () => number) => number> = {
  'uniform 0-1': (r) => r(),
  'exponential, mean 0.05 s': (r) => -Math.log(1 - r()) * 0.05,
  'log-normal latencies (ms to s)': (r) => Math.exp(-5 + 1.5 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())),
  'sizes 1 B to 1 GB': (r) => Math.floor(10 ** (9 * r())) + 1,
};
