/**
 * Hot-path benchmarks: one update of each kind, in one process run, against the
 * physical limit (a raw typed-array store) and against prom-client and
 * OpenTelemetry, the libraries a Node service author would pick instead.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import client from 'prom-client';
import { defineModel, field, type Stats } from '../src/index.js';
import { now as clockNow } from '../src/platform/clock.js';
import { allocation, measure, type HarnessOptions, type Result } from './harness.js';

/** A benchmark case: a name, a group for the ratio it is judged by, and its loop. */
export interface Case {
  readonly name: string;
  /** What this case is compared with: 'increment' or 'store' (the raw limit), or 'compound'. */
  readonly group: 'increment' | 'store' | 'compound' | 'peer';
  readonly body: (n: number) => number;
}

function mmstatsCases(format: 1 | 2, dir: string): { cases: Case[]; stats: Stats } {
  const fields = {
    counter: field.counter(),
    gauge: field.gauge(),
    int64: field.int64(),
    text: field.string({ size: 32 }),
    ...(format === 2 ? { triple: field.compound(['min', 'max', 'last']) } : {}),
  };
  const Model = defineModel(`Bench${format}`, fields);
  const s = Model.open({ path: dir, format, defaultFields: false }) as Stats & Record<string, any>;
  // A labelled series: one field per label combination, looked up once and kept.
  for (const method of ['GET', 'POST']) for (const code of ['200', '500']) s.add(`http.requests.${method}.${code}`, field.counter());
  const series = s.get('http.requests.GET.200') as unknown as { incr(): void; value: number };
  const v = `v${format}`;
  const cases: Case[] = [
    { name: `mmstats ${v} counter incr`, group: 'increment', body: loop(s.counter, 'x.incr()', 'x.value') },
    { name: `mmstats ${v} gauge set`, group: 'store', body: loop(s.gauge, 'x.set(i)', 'x.value') },
    { name: `mmstats ${v} int64 set`, group: 'store', body: loop(s.int64, 'x.set(i)', 'x.number') },
    {
      name: `mmstats ${v} string set`,
      group: 'compound',
      body: loop({ f: s.text, words: ['idle', 'busy', 'draining', 'stopped'] }, 'x.f.set(x.words[i & 3])', 'x.f.value.length'),
    },
    { name: `mmstats ${v} labelled counter incr`, group: 'increment', body: loop(series, 'x.incr()', 'x.value') },
  ];
  if (format === 2) {
    cases.push({
      name: `mmstats ${v} compound update`,
      group: 'compound',
      body: loop({ t: s.triple, p: s.triple.value, noop }, 'x.p.last = i; if (i > x.p.max) x.p.max = i; x.t.update(x.noop)', 'x.p.last'),
    });
  }
  for (const extra of extraCases(s, v)) cases.push(extra);
  return { cases, stats: s };
}

function noop(): void {}

/** Timer and histogram cases (a format that cannot hold a type skips its case). */
function extraCases(s: Stats, v: string): Case[] {
  const out: Case[] = [];
  if (s.format === 2) {
    const h = s.add('bench.histogram', field.histogram());
    out.push({ name: `mmstats ${v} histogram record`, group: 'compound', body: loop(h, 'x.record((i & 1023) + 1)', 'x.count') });
  }
  const t = s.add('bench.timer', field.timer());
  out.push({ name: `mmstats ${v} timer record (no clock)`, group: 'compound', body: loop(t, 'x.record((i & 1023) * 1e-6)', 'x.count') });
  // Summed in a typed array: a double the caller keeps in a local across the native
  // clock call can be boxed by V8, which would be the loop's garbage, not the timer's.
  out.push({
    name: `mmstats ${v} timer start+stop`,
    group: 'peer',
    body: loop({ t, acc: new Float64Array(1) }, 'x.acc[0] += x.t.stop(x.t.start())', 'x.acc[0]'),
  });
  return out;
}

function limitCases(): Case[] {
  const f64 = new Float64Array(8);
  const i32 = new Int32Array(8);
  return [
    {
      name: 'limit: Float64Array increment',
      group: 'increment',
      body: (n) => {
        for (let i = 0; i < n; i++) f64[0] += 1;
        return f64[0]!;
      },
    },
    {
      name: 'limit: Float64Array store',
      group: 'store',
      body: (n) => {
        for (let i = 0; i < n; i++) f64[1] = i;
        return f64[1]!;
      },
    },
    {
      name: 'limit: Int32Array store',
      group: 'store',
      body: (n) => {
        for (let i = 0; i < n; i++) i32[0] = i;
        return i32[0]!;
      },
    },
    {
      name: 'clock: mmstats clock (native, timers use it)',
      group: 'peer',
      body: (n) => {
        const acc = new Float64Array(1);
        for (let i = 0; i < n; i++) acc[0] += clockNow();
        return acc[0]!;
      },
    },
    {
      name: 'clock: performance.now()',
      group: 'peer',
      body: (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += performance.now();
        return acc;
      },
    },
  ];
}

function promCases(): Case[] {
  const registry = new client.Registry();
  const counter = new client.Counter({ name: 'c', help: 'c', registers: [registry] });
  const gauge = new client.Gauge({ name: 'g', help: 'g', registers: [registry] });
  const hist = new client.Histogram({ name: 'h', help: 'h', registers: [registry] });
  const lcounter = new client.Counter({ name: 'lc', help: 'lc', labelNames: ['method', 'code'], registers: [registry] });
  const lhist = new client.Histogram({ name: 'lh', help: 'lh', labelNames: ['method', 'code'], registers: [registry] });
  const labels = { method: 'GET', code: '200' };
  const child = lcounter.labels('GET', '200');
  return [
    { name: 'prom-client counter inc()', group: 'peer', body: ownLoop(() => counter.inc()) },
    { name: 'prom-client gauge set()', group: 'peer', body: ownLoop((i) => gauge.set(i)) },
    { name: 'prom-client histogram observe()', group: 'peer', body: ownLoop((i) => hist.observe((i & 1023) / 1000)) },
    { name: 'prom-client labelled inc(labels)', group: 'peer', body: ownLoop(() => lcounter.inc(labels)) },
    { name: 'prom-client labelled labels().inc()', group: 'peer', body: ownLoop(() => lcounter.labels('GET', '200').inc()) },
    { name: 'prom-client cached child inc()', group: 'peer', body: ownLoop(() => child.inc()) },
    { name: 'prom-client labelled observe(labels)', group: 'peer', body: ownLoop((i) => lhist.observe(labels, (i & 1023) / 1000)) },
  ];
}

function otelCases(): Case[] {
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('bench');
  const counter = meter.createCounter('c');
  const updown = meter.createUpDownCounter('g');
  const gauge = meter.createGauge('gg');
  const hist = meter.createHistogram('h');
  const attrs = { method: 'GET', code: '200' };
  return [
    { name: 'OpenTelemetry counter add()', group: 'peer', body: ownLoop(() => counter.add(1)) },
    { name: 'OpenTelemetry gauge record()', group: 'peer', body: ownLoop((i) => gauge.record(i)) },
    { name: 'OpenTelemetry updown add()', group: 'peer', body: ownLoop(() => updown.add(1)) },
    { name: 'OpenTelemetry histogram record()', group: 'peer', body: ownLoop((i) => hist.record(i & 1023)) },
    { name: 'OpenTelemetry counter add(attrs)', group: 'peer', body: ownLoop(() => counter.add(1, attrs)) },
    { name: 'OpenTelemetry histogram record(attrs)', group: 'peer', body: ownLoop((i) => hist.record(i & 1023, attrs)) },
  ];
}

/**
 * A loop of its own for one mmstats case: `op` runs `n` times with `x` (the field)
 * and `i` in scope, then `result` is returned so nothing is optimised away. Each
 * case is compiled separately so its call sites see one field class only, as in a
 * program (closures made at one site share what V8 learns about their calls, which
 * would make the v2 and v1 cases slow each other down).
 */
function loop(x: unknown, op: string, result: string): (n: number) => number {
  // `x` is copied into a constant of the loop function, as a program keeps a field it looked up once.
  return new Function('field', `return function (n) { const x = field; for (let i = 0; i < n; i++) { ${op}; } return ${result}; }`)(x) as (
    n: number,
  ) => number;
}

/**
 * A loop of its own for each peer case (a fresh function per case keeps every
 * call site monomorphic, as the mmstats cases' own loops are).
 */
function ownLoop(op: (i: number) => void): (n: number) => number {
  return new Function('op', 'return function (n) { for (let i = 0; i < n; i++) op(i); return n; }')(op) as (n: number) => number;
}

/** Run every hot-path case; returns results and allocation figures for mmstats cases. */
export async function runHotPath(opts: HarnessOptions & { allocOps: number }): Promise<{
  results: (Result & { group: Case['group'] })[];
  alloc: { name: string; gcs: number; heapDelta: number }[];
}> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-bench-'));
  fs.chmodSync(dir, 0o700);
  const v2 = mmstatsCases(2, dir);
  const v1 = mmstatsCases(1, dir);
  const mine = new Set([...v2.cases, ...v1.cases]);
  const cases = [...limitCases(), ...v2.cases, ...v1.cases, ...promCases(), ...otelCases()];
  const results: (Result & { group: Case['group'] })[] = [];
  const alloc = [];
  for (const c of cases) {
    results.push({ ...measure(c.name, c.body, opts), group: c.group });
    // Right after its timing, in the state the timing saw: what runs later (the v1
    // cases share the timer's methods) can change what V8 inlines, and so what it boxes.
    if (mine.has(c)) alloc.push({ name: c.name, ...(await allocation(c.body, opts.allocOps)) });
  }
  v2.stats.remove();
  v1.stats.remove();
  fs.rmSync(dir, { recursive: true, force: true });
  return { results, alloc };
}
