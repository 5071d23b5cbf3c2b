/**
 * A small benchmark harness: ns/op as the median of several timed rounds after
 * a warm-up, with every result consumed so the JIT cannot drop the work.
 */
import { PerformanceObserver } from 'node:perf_hooks';

/** Anything a benchmark body returns lands here, so the work cannot be optimised away. */
export let sink = 0;
export function consume(v: number): void {
  sink = (sink + v) | 0;
}

/** One measured operation. */
export interface Result {
  readonly name: string;
  /** Median ns per operation. */
  readonly ns: number;
  readonly rounds: number;
  readonly opsPerRound: number;
}

/** Options shared by every measurement. */
export interface HarnessOptions {
  /** Operations per timed round. */
  readonly ops: number;
  /** Timed rounds (the median is reported). */
  readonly rounds: number;
}

/**
 * Time `body(n)`, which must run its operation n times in its own loop (each
 * benchmark has its own loop function so that each is compiled for its one
 * call site) and return a number derived from the work.
 */
export function measure(name: string, body: (n: number) => number, opts: HarnessOptions): Result {
  // Warm-up: enough calls for the optimising compiler to settle, which also tells
  // roughly what one op costs, so slow peers get fewer ops per round (about 100 ms).
  const warm = Math.max(1000, Math.min(opts.ops / 4, 100_000));
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < 3; i++) consume(body(warm));
  const estimate = Number(process.hrtime.bigint() - t0) / (3 * warm);
  const ops = Math.max(1000, Math.min(opts.ops, Math.round(100e6 / Math.max(estimate, 0.1))));
  const times: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    t0 = process.hrtime.bigint();
    consume(body(ops));
    const t1 = process.hrtime.bigint();
    times.push(Number(t1 - t0) / ops);
  }
  times.sort((a, b) => a - b);
  return { name, ns: times[Math.floor(times.length / 2)]!, rounds: opts.rounds, opsPerRound: ops };
}

/** Garbage collections and heap growth seen while `body(n)` runs. */
export async function allocation(body: (n: number) => number, n: number): Promise<{ gcs: number; heapDelta: number }> {
  consume(body(Math.min(n, 100_000))); // compile first: warm-up allocations are not the hot path's
  await new Promise((r) => setImmediate(r));
  let gcs = 0;
  const obs = new PerformanceObserver((list) => (gcs += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  const before = process.memoryUsage().heapUsed;
  consume(body(n));
  const heapDelta = process.memoryUsage().heapUsed - before;
  await new Promise((r) => setTimeout(r, 50)); // gc entries are delivered asynchronously
  obs.disconnect();
  return { gcs, heapDelta };
}

/** Format a table of rows (arrays of cells) with aligned columns. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}
