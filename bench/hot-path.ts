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
import { allocation, measure, type HarnessOptions } from './harness.js';

/** A benchmark case: a name, a group for the ratio it is judged by, and its loop. */
export interface Case {
  readonly name: string;
  /**
   * What this case is compared with: 'increment' or 'store' (the raw limit), 'least'
   * (a histogram's least work), 'least4' (four of them in one function), 'compound'
   * (judged against the raw store), or nothing ('peer').
   */
  readonly group: 'increment' | 'store' | 'least' | 'least4' | 'compound' | 'peer';
  /** Compiles a fresh loop for the case (see `loop`). */
  readonly make: () => (n: number) => number;
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
    { name: `mmstats ${v} counter incr`, group: 'increment', make: loop(s.counter, 'x.incr()', 'x.value') },
    { name: `mmstats ${v} gauge set`, group: 'store', make: loop(s.gauge, 'x.set(i)', 'x.value') },
    { name: `mmstats ${v} int64 set`, group: 'store', make: loop(s.int64, 'x.set(i)', 'x.number') },
    {
      name: `mmstats ${v} string set (ASCII, README: set('/users/7'))`,
      group: 'compound',
      make: loop(
        { f: s.text, words: ['/users/7', 'idle', 'draining', '/api/v1/orders/12345/items'] },
        'x.f.set(x.words[i & 3])',
        'x.f.value.length',
      ),
    },
    {
      name: `mmstats ${v} string set (non-ASCII)`,
      group: 'compound',
      make: loop({ f: s.text, words: ['café', 'naïve', 'Zürich', 'Ångström'] }, 'x.f.set(x.words[i & 3])', 'x.f.value.length'),
    },
    { name: `mmstats ${v} labelled counter incr`, group: 'increment', make: loop(series, 'x.incr()', 'x.value') },
  ];
  if (format === 2) {
    cases.push({
      name: `mmstats ${v} compound set({ min, max }) (docs: the call shown)`,
      group: 'compound',
      make: loop(s.triple, 'x.set({ min: i, max: i + 1 })', 'x.value.max'),
    });
    cases.push({
      name: `mmstats ${v} compound update`,
      group: 'compound',
      make: loop({ t: s.triple, p: s.triple.value, noop }, 'x.p.last = i; if (i > x.p.max) x.p.max = i; x.t.update(x.noop)', 'x.p.last'),
    });
  }
  if (format === 2) for (const c of familyCases(s)) cases.push(c);
  for (const extra of extraCases(s, v)) cases.push(extra);
  return { cases, stats: s };
}

/**
 * Labelled families: an update through a held child (the unlabelled counter's own
 * code), and the lookups `with(a, b)` and `labels({...})` on a hit, over 2 x 2
 * children picked by the loop index, as a request handler picks them.
 */
function familyCases(s: Stats): Case[] {
  const fam = s.add('bench.family', field.counter({ labels: ['method', 'status'] }));
  const methods = ['GET', 'POST'];
  const statuses = ['200', '500'];
  for (const m of methods) for (const st of statuses) fam.with(m, st);
  const x = { f: fam, m: methods, s: statuses, h: fam.with('GET', '200') };
  const five = { f: s.add('bench.family5', field.counter({ labels: ['method', 'status', 'route', 'region', 'server'] })), h: ['a', 'b'] };
  for (const h of five.h) five.f.with('GET', '200', '/users/:id', 'eu', h);
  return [
    { name: 'mmstats v2 family child incr (held)', group: 'increment', make: loop(fam.with('GET', '200'), 'x.incr()', 'x.value') },
    {
      name: 'mmstats v2 family with(a, b) hit',
      group: 'peer',
      make: loop(x, 'x.h = x.f.with(x.m[i & 1], x.s[(i >> 1) & 1])', 'x.h.value'),
    },
    {
      name: 'mmstats v2 family with(a, b).incr()',
      group: 'peer',
      make: loop(x, 'x.f.with(x.m[i & 1], x.s[(i >> 1) & 1]).incr()', 'x.h.value'),
    },
    {
      name: 'mmstats v2 family labels({a, b}) hit',
      group: 'peer',
      make: loop(x, 'x.h = x.f.labels({ method: x.m[i & 1], status: x.s[(i >> 1) & 1] })', 'x.h.value'),
    },
    {
      name: 'mmstats v2 family labels({a, b}).incr()',
      group: 'peer',
      make: loop(x, 'x.f.labels({ method: x.m[i & 1], status: x.s[(i >> 1) & 1] }).incr()', 'x.h.value'),
    },
    {
      // The same lookup with label objects made once: what is left of the collections
      // above is the caller's object literal, which the hit's key count keeps alive.
      name: 'mmstats v2 family labels(set) hit, set objects made once',
      group: 'peer',
      make: loop(
        { ...x, sets: methods.flatMap((method) => statuses.map((status) => ({ method, status }))) },
        'x.h = x.f.labels(x.sets[i & 3])',
        'x.h.value',
      ),
    },
    {
      name: "mmstats v2 family with('GET', 200).incr() (README)",
      group: 'peer',
      make: loop(fam, "x.with('GET', 200).incr()", "x.with('GET', 200).value"),
    },
    {
      name: "mmstats v2 family labels({ method: 'POST', status: 500 }).incr() (README)",
      group: 'peer',
      make: loop(fam, "x.labels({ method: 'POST', status: 500 }).incr()", "x.with('POST', 500).value"),
    },
    {
      name: 'mmstats v2 family of 5 labels, with(a, b, c, d, e) hit',
      group: 'peer',
      make: loop(five, "x.f.with('GET', '200', '/users/:id', 'eu', x.h[i & 1])", "x.f.with('GET', '200', '/users/:id', 'eu', 'a').value"),
    },
  ];
}

/**
 * The cost of making a child: `with` on a new label set (checks, slot claim, the
 * field's own create) in a fresh family of `n` children, in µs per child. Slots come
 * from new chunks here, the costliest case; reused slots are cheaper.
 */
export function timeChildCreation(s: Stats, n: number): number {
  const fam = s.add(`bench.create.${++creations}`, field.counter({ labels: ['route', 'status'], maxSeries: n }));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fam.with(`/route/${i >> 2}`, String(200 + (i & 3)));
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  fam.clear();
  return us;
}
let creations = 0;

function noop(): void {}

/** Timer and histogram cases (a format that cannot hold a type skips its case). */
function extraCases(s: Stats, v: string): Case[] {
  const out: Case[] = [];
  if (s.format === 2) {
    const h = s.add('bench.histogram', field.histogram());
    out.push({ name: `mmstats ${v} histogram record`, group: 'least', make: loop(h, 'x.record((i & 1023) + 1)', 'x.count') });
    out.push({
      name: `mmstats ${v} histogram record (field a constant)`,
      group: 'least',
      make: loop(h, 'x.record((i & 1023) + 1)', 'x.count', 'constant'),
    });
    // A handler records several metrics: three histograms and a timer in one function.
    const four = {
      a: s.add('bench.multi.a', field.histogram()),
      b: s.add('bench.multi.b', field.histogram()),
      c: s.add('bench.multi.c', field.histogram()),
      t: s.add('bench.multi.timer', field.timer()),
    };
    out.push({
      name: `mmstats ${v} 3 histograms and a timer recorded in one function`,
      group: 'least4',
      make: loop(four, 'const v = (i & 1023) + 1; x.a.record(v); x.b.record(v * 2); x.c.record(v * 3); x.t.record(v * 1e-6)', 'x.a.count'),
    });
    // The README's histogram: explicit bounds, a child of a family.
    const byRoute = s.add('bench.duration', field.histogram({ buckets: [0.01, 0.1, 1], labels: ['route'] }));
    out.push({
      name: `mmstats ${v} family with('/users/:id').record(v) (README)`,
      group: 'peer',
      make: loop(byRoute, "x.with('/users/:id').record((i & 1023) * 1e-3)", "x.with('/users/:id').count"),
    });
  }
  const t = s.add('bench.timer', field.timer());
  out.push({ name: `mmstats ${v} timer record (no clock)`, group: 'least', make: loop(t, 'x.record((i & 1023) * 1e-6)', 'x.count') });
  // Summed in a typed array: a double the caller keeps in a local across the native
  // clock call can be boxed by V8, which would be the loop's garbage, not the timer's.
  out.push({
    name: `mmstats ${v} timer start+stop`,
    group: 'peer',
    make: loop({ t, acc: new Float64Array(1) }, 'x.acc[0] += x.t.stop(x.t.start())', 'x.acc[0]'),
  });
  // The README's other two forms: time(fn), and a scope (`using _ = t.scope()`, its dispose called by hand here).
  out.push({ name: `mmstats ${v} timer time(fn) (README)`, group: 'peer', make: loop({ t, fn: () => 1 }, 'x.t.time(x.fn)', 'x.t.count') });
  out.push({
    name: `mmstats ${v} timer scope() and its dispose (README: using)`,
    group: 'peer',
    make: loop(t, 'x.scope()[Symbol.dispose]()', 'x.count'),
  });
  return out;
}

/**
 * Typed arrays and parameters of a histogram written by hand: the default log-linear
 * layout (2^-20 to 2^20, 128 sub-buckets an octave; 1e-6 to 1e6 rounded out), a
 * seqlock word and its writer's copy, and a moving window of 100 values.
 */
function byHand() {
  const v = new Float64Array(1);
  return {
    f: new Float64Array(5 + 40 * 128 + 3),
    seq: new Int32Array(1),
    s: 0,
    v,
    w: new Uint32Array(v.buffer),
    lowest: 2 ** -20,
    highest: 2 ** 20,
    top: 40 * 128 + 1,
    base: ((1023 - 20) << 7) - 1,
    shift: 13,
    ring: new Float64Array(100),
    ri: 0,
    rn: 0,
    rsum: new Float64Array(1),
  };
}

/** What any histogram with an exact sum must do per record: the bucket from the value's bits, one bucket increment, one sum increment. */
function leastWork(x: string, v: string): string {
  return `${x}.v[0] = ${v}; { const hi = ${x}.w[1]; ${x}.f[5 + (hi >>> 13) - ${x}.base] += 1; } ${x}.f[1] += ${v};`;
}

/**
 * What a record publishes (docs/FORMAT.md), written by hand: under the seqlock, count,
 * sum, min, max, last and the bucket (the value's range checked, the bound rule kept),
 * and for a timer the moving mean of its last 100 values.
 */
function fullWork(x: string, value: string, moving = false): string {
  const mean = moving
    ? `{ const r = ${x}.ring; const k = ${x}.ri; ${x}.rsum[0] += v - r[k]; r[k] = v; if (${x}.rn < 100) ${x}.rn++; ${x}.ri = k === 99 ? 0 : k + 1; f[f.length - 1] = ${x}.rsum[0] / ${x}.rn; }`
    : '';
  return `{ const v = ${value}; if (v === v) { ${x}.seq[0] = (${x}.s + 1) | 0; const f = ${x}.f; const c = f[0]; f[0] = c + 1; f[1] += v;
    if (c === 0 || v < f[2]) f[2] = v; if (c === 0 || v > f[3]) f[3] = v; f[4] = v; ${x}.v[0] = v; const w = ${x}.w;
    f[5 + (v <= ${x}.lowest ? 0 : v > ${x}.highest ? ${x}.top : ((w[1] - (w[0] === 0 ? 1 : 0)) >>> ${x}.shift) - ${x}.base)] += 1; ${mean}
    ${x}.seq[0] = ${x}.s = (${x}.s + 2) | 0; } }`;
}

/** The state of a string field written by hand: a sequence, a length and a 32-byte payload. */
function asciiByHand(words: string[]): { words: string[]; seq: Int32Array; len: Uint32Array; p: Uint8Array; s: number; dirty: number } {
  const buf = new ArrayBuffer(8 + 32);
  return { words, seq: new Int32Array(buf, 0, 1), len: new Uint32Array(buf, 4, 1), p: new Uint8Array(buf, 8, 32), s: 0, dirty: 0 };
}

function limitCases(): Case[] {
  const f64 = new Float64Array(8);
  const i32 = new Int32Array(8);
  const least = byHand();
  const full = byHand();
  const timerFull = byHand();
  const four = { a: byHand(), b: byHand(), c: byHand(), d: byHand() };
  const fullFour = { a: byHand(), b: byHand(), c: byHand(), d: byHand() };
  // The floor of a family's `with(a, b)` hit: two Map lookups by hand.
  const trie = new Map([
    [
      'GET',
      new Map([
        ['200', 1],
        ['500', 2],
      ]),
    ],
    [
      'POST',
      new Map([
        ['200', 3],
        ['500', 4],
      ]),
    ],
  ]);
  const keys = { trie, m: ['GET', 'POST'], s: ['200', '500'], acc: new Float64Array(1) };
  return [
    { name: 'limit: Float64Array increment', group: 'increment', make: loop(f64, 'x[0] += 1', 'x[0]') },
    {
      name: 'limit: two Map.get (a 2-level trie by hand)',
      group: 'peer',
      make: loop(keys, 'x.acc[0] += x.trie.get(x.m[i & 1]).get(x.s[(i >> 1) & 1])', 'x.acc[0]'),
    },
    { name: 'limit: Float64Array store', group: 'store', make: loop(f64, 'x[1] = i', 'x[1]') },
    {
      // What storing an ASCII value in the format takes (docs/FORMAT.md): the odd
      // sequence, a byte per char code with the check that it is ASCII, zeros over what a
      // longer value left, the length, the even sequence. The same four values as the
      // library's row.
      name: 'limit: an ASCII string store by hand (seqlock, bytes, clear, length)',
      group: 'compound',
      make: loop(
        asciiByHand(['/users/7', 'idle', 'draining', '/api/v1/orders/12345/items']),
        `const w = x.words[i & 3]; const p = x.p; const n = w.length; x.seq[0] = (x.s + 1) | 0;
         let k = 0; for (; k < n; k++) { const c = w.charCodeAt(k); if (c > 0x7f) break; p[k] = c; }
         for (let j = k; j < x.dirty; j++) p[j] = 0; x.dirty = k; x.len[0] = k; x.seq[0] = x.s = (x.s + 2) | 0;`,
        'x.len[0]',
      ),
    },
    { name: 'limit: Int32Array store', group: 'store', make: loop(i32, 'x[0] = i', 'x[0]') },
    {
      name: "limit: a histogram's least work (bucket and sum increments, by hand)",
      group: 'least',
      make: loop(least, `const v = (i & 1023) + 1; ${leastWork('x', 'v')}`, 'x.f[1]'),
    },
    {
      name: "limit: a histogram record's full work by hand (seqlock, count, sum, min, max, last, bucket)",
      group: 'least',
      make: loop(full, fullWork('x', '(i & 1023) + 1'), 'x.f[1]'),
    },
    {
      name: "limit: a timer record's full work by hand (the same and a moving mean of 100)",
      group: 'least',
      make: loop(timerFull, fullWork('x', '(i & 1023) * 1e-6', true), 'x.f[1]'),
    },
    {
      name: "limit: 4 histograms' least work in one function, by hand",
      group: 'least4',
      make: loop(
        four,
        `const v = (i & 1023) + 1; ${leastWork('x.a', 'v')} ${leastWork('x.b', '(v * 2)')} ${leastWork('x.c', '(v * 3)')} ${leastWork('x.d', '(v * 4)')}`,
        'x.a.f[1]',
      ),
    },
    {
      name: 'limit: 3 histogram records and a timer record, full work by hand in one function',
      group: 'least4',
      make: loop(
        fullFour,
        `const u = (i & 1023) + 1; ${fullWork('x.a', 'u')} ${fullWork('x.b', '(u * 2)')} ${fullWork('x.c', '(u * 3)')} ${fullWork('x.d', '(u * 1e-6)', true)}`,
        'x.a.f[1]',
      ),
    },
    {
      name: 'clock: mmstats clock (native; timers and rates use it)',
      group: 'peer',
      make: loop({ now: clockNow, acc: new Float64Array(1) }, 'x.acc[0] += x.now()', 'x.acc[0]'),
    },
    {
      name: 'clock: performance.now()',
      group: 'peer',
      make: loop({ p: performance, acc: new Float64Array(1) }, 'x.acc[0] += x.p.now()', 'x.acc[0]'),
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
  const x = { counter, gauge, hist, lcounter, lhist, labels: { method: 'GET', code: '200' }, child: lcounter.labels('GET', '200') };
  return [
    { name: 'prom-client counter inc()', group: 'peer', make: loop(x, 'x.counter.inc()', 'n') },
    { name: 'prom-client gauge set()', group: 'peer', make: loop(x, 'x.gauge.set(i)', 'n') },
    { name: 'prom-client histogram observe()', group: 'peer', make: loop(x, 'x.hist.observe((i & 1023) / 1000)', 'n') },
    { name: 'prom-client labelled inc(labels)', group: 'peer', make: loop(x, 'x.lcounter.inc(x.labels)', 'n') },
    { name: 'prom-client labelled labels().inc()', group: 'peer', make: loop(x, "x.lcounter.labels('GET', '200').inc()", 'n') },
    { name: 'prom-client cached child inc()', group: 'peer', make: loop(x, 'x.child.inc()', 'n') },
    { name: 'prom-client labelled observe(labels)', group: 'peer', make: loop(x, 'x.lhist.observe(x.labels, (i & 1023) / 1000)', 'n') },
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
  const x = { counter, updown, gauge, hist, attrs: { method: 'GET', code: '200' } };
  return [
    { name: 'OpenTelemetry counter add()', group: 'peer', make: loop(x, 'x.counter.add(1)', 'n') },
    { name: 'OpenTelemetry gauge record()', group: 'peer', make: loop(x, 'x.gauge.record(i)', 'n') },
    { name: 'OpenTelemetry updown add()', group: 'peer', make: loop(x, 'x.updown.add(1)', 'n') },
    { name: 'OpenTelemetry histogram record()', group: 'peer', make: loop(x, 'x.hist.record(i & 1023)', 'n') },
    { name: 'OpenTelemetry counter add(attrs)', group: 'peer', make: loop(x, 'x.counter.add(1, x.attrs)', 'n') },
    { name: 'OpenTelemetry histogram record(attrs)', group: 'peer', make: loop(x, 'x.hist.record(i & 1023, x.attrs)', 'n') },
  ];
}

/**
 * A loop of its own for one case: `op` runs `n` times with `x` and `i` in scope, then
 * `result` is returned so nothing is optimised away. Returns a maker: each call
 * compiles a new loop function, so each measurement has its own call site, as in a
 * program. The source is made unique: V8 caches code by source text, so two loops of
 * the same text would be closures of one function, sharing what V8 learns about
 * their calls (the v2 and v1 cases would slow each other down).
 *
 * `x` reaches the loop as an argument, as a request handler gets what it updates
 * from its request, a parameter or an object it looks up: what a program sees. With
 * `shape: 'constant'`, `x` is instead a constant of the loop (a closure variable of a
 * function with one closure), which V8 folds into the code together with the
 * field's own unchanging properties (its typed arrays, its bucket layout): loads the
 * argument shape pays, and a program pays too unless it reaches the field from a
 * module constant in a function V8 specialises. The bench used that shape before;
 * it made a histogram record look 1.10 times the least work where a program sees
 * 1.6 to 2 times (bench rows "... (field a constant)").
 */
function loop(x: unknown, op: string, result: string, shape: 'argument' | 'constant' = 'argument'): () => (n: number) => number {
  if (shape === 'constant')
    return () =>
      new Function(
        'field',
        `// loop ${++loops}\nreturn function (n) { const x = field; for (let i = 0; i < n; i++) { ${op}; } return ${result}; }`,
      )(x) as (n: number) => number;
  return () => {
    const body = new Function(
      `// loop ${++loops}\nreturn function (x, n) { for (let i = 0; i < n; i++) { ${op}; } return ${result}; }`,
    )() as (x: unknown, n: number) => number;
    return (n) => body(x, n);
  };
}

/** Loops compiled so far: each one's source is numbered, so it is unique. */
let loops = 0;

/** A case's figure: the median over its compilations, and the fastest and slowest of them. */
export interface HotPathResult {
  readonly name: string;
  readonly group: Case['group'];
  /** ns per operation: the median of the compilations' medians. */
  readonly ns: number;
  readonly low: number;
  readonly high: number;
}

/** Run every hot-path case; returns results and allocation figures for mmstats cases. */
export async function runHotPath(opts: HarnessOptions & { allocOps: number; compiles: number; createChildren?: number }): Promise<{
  results: HotPathResult[];
  alloc: { name: string; gcs: number; heapDelta: number }[];
  /** µs to make one child of a labelled family (median of 5 families). */
  createUs: number;
}> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmstats-bench-'));
  fs.chmodSync(dir, 0o700);
  const v2 = mmstatsCases(2, dir);
  const v1 = mmstatsCases(1, dir);
  const mine = new Set([...v2.cases, ...v1.cases]);
  const cases = [...limitCases(), ...v2.cases, ...v1.cases, ...promCases(), ...otelCases()];
  const results: HotPathResult[] = [];
  const alloc = [];
  for (const c of cases) {
    // Each case in `opts.compiles` loops compiled apart, and the median kept: the same
    // source compiled again can run up to three times slower or faster (a histogram
    // record measured 11.4, 5.8, then 3.8 ns in its first three loops), depending on what
    // V8 knew of the library's functions when it compiled, so one compilation's figure
    // is partly luck.
    const bodies = Array.from({ length: opts.compiles }, () => c.make());
    const figures = bodies.map((body) => measure(c.name, body, opts).ns).sort((a, b) => a - b);
    results.push({
      name: c.name,
      ns: figures[Math.floor(figures.length / 2)]!,
      low: figures[0]!,
      high: figures[figures.length - 1]!,
      group: c.group,
    });
    // Right after its timing, in the state the timing saw: what runs later (the v1
    // cases share the timer's methods) can change what V8 inlines, and so what it boxes.
    // On a loop already measured: a fresh one would spend its first calls unoptimised.
    if (mine.has(c)) alloc.push({ name: c.name, ...(await allocation(bodies[bodies.length - 1]!, opts.allocOps)) });
  }
  const creates = Array.from({ length: 5 }, () => timeChildCreation(v2.stats, opts.createChildren ?? 2000)).sort((a, b) => a - b);
  v2.stats.remove();
  v1.stats.remove();
  fs.rmSync(dir, { recursive: true, force: true });
  return { results, alloc, createUs: creates[2]! };
}
