/**
 * Labelled families (format 2.1): the writer API over every field type, label
 * checks, removal and slot reuse, the series limit, kept files, and what a reader
 * in another process sees.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { defineModel, field, openStats, StatsReader, MmstatsError, Family, type FieldValue } from '../src/index.js';
import { Header } from '../src/format/v2.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

const labelError = (pattern?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof MmstatsError, `an MmstatsError, not ${String(err)}`);
  assert.equal(err.code, 'ERR_MMSTATS_LABEL');
  if (pattern) assert.match(err.message, pattern);
  return true;
};

function readFields(path: string): FieldValue[] {
  const r = StatsReader.open(path);
  try {
    return [...r.read().fields];
  } finally {
    r.close();
  }
}

const usedSize = (path: string) => fs.readFileSync(path).readUInt32LE(Header.USED_SIZE);

test('a writer process updates children; a reader process sees each under its labels, unlabelled fields unchanged', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
    const Web = defineModel('Web', {
      requests: field.counter({ help: 'requests', labels: ['method', 'status'] }),
      duration: field.histogram({ unit: 'seconds', buckets: [0.01, 0.1, 1], labels: ['route'] }),
      up: field.gauge(),
    }, { prefix: 'web.' });
    const s = Web.open({ path: env.DIR, defaultFields: false });
    const ok = s.requests.with('GET', '200');
    on('update', () => {
      ok.incr();
      ok.incr(2);
      s.requests.labels({ method: 'POST', status: 500 }).incr(7);
      s.requests.with('GET', 'quote"back\\\\slash\\nline').incr();
      s.duration.with('/users/:id').record(0.05);
      s.up.set(4);
      return {
        same: ok === s.requests.with('GET', '200') && ok === s.requests.labels({ status: '200', method: 'GET' }) && ok === s.requests.with('GET', 200),
        size: s.requests.size,
      };
    });
    ready(s.path);
  `,
    { env: { DIR: dir } },
  );
  try {
    const path = await w.ready;
    assert.deepEqual(await w.call('update'), { same: true, size: 3 });
    const fields = readFields(path);
    const byLabel = new Map(fields.map((f) => [f.label, f]));
    const get = byLabel.get('web.requests{method="GET",status="200"}')!;
    assert.equal(get.value, 3);
    assert.equal(get.family, 'web.requests');
    assert.deepEqual(get.labels, { method: 'GET', status: '200' });
    assert.equal(get.kind, 'counter');
    assert.equal(get.help, 'requests');
    assert.equal(byLabel.get('web.requests{method="POST",status="500"}')!.value, 7);
    // Prometheus escaping in the rendered label; the labels object holds the value as written.
    const odd = fields.find((f) => f.labels?.status?.startsWith('quote'))!;
    assert.equal(odd.label, 'web.requests{method="GET",status="quote\\"back\\\\slash\\nline"}');
    assert.equal(odd.labels!.status, 'quote"back\\slash\nline');
    const h = byLabel.get('web.duration{route="/users/:id"}')!;
    assert.equal(h.unit, 'seconds');
    assert.equal((h.value as { count: number }).count, 1);
    const up = byLabel.get('web.up')!;
    assert.equal(up.value, 4);
    assert.ok(!('family' in up) && !('labels' in up), 'an unlabelled field has no family or labels');
    assert.equal(fields.filter((f) => f.family).length, 4);
  } finally {
    await w.end();
  }
});

/** One case per field type: the same update on a plain field and on a child must read the same. */
const TYPES: [string, (labels?: readonly string[]) => any, (f: any) => void][] = [
  ['counter', (labels) => field.counter({ labels }), (f) => f.incr(3)],
  ['gauge', (labels) => field.gauge({ labels }), (f) => f.set(-2.5)],
  ['int8', (labels) => field.int8({ labels }), (f) => f.set(-7)],
  ['uint16', (labels) => field.uint16({ labels }), (f) => f.set(65535)],
  ['int32', (labels) => field.int32({ labels }), (f) => f.set(-123456)],
  ['float32', (labels) => field.float32({ labels }), (f) => f.set(1.5)],
  ['float64', (labels) => field.float64({ labels }), (f) => f.set(Math.PI)],
  ['int64', (labels) => field.int64({ labels }), (f) => f.set(-(2n ** 62n))],
  ['uint64', (labels) => field.uint64({ labels }), (f) => f.set(2n ** 63n + 5n)],
  ['bool', (labels) => field.bool({ labels }), (f) => f.set(true)],
  ['string', (labels) => field.string({ size: 12, labels }), (f) => f.set('héllo')],
  ['compound', (labels) => field.compound(['a', 'b'], { labels }), (f) => f.set({ a: 1, b: 2 })],
  ['samplingCounter', (labels) => field.samplingCounter({ labels }), (f) => f.incr(4)],
  ['minMax', (labels) => field.minMax({ labels }), (f) => (f.record(3), f.record(-1))],
  ['average', (labels) => field.average({ labels }), (f) => (f.add(2), f.add(4))],
  ['movingAverage', (labels) => field.movingAverage({ size: 4, labels }), (f) => (f.add(2), f.add(6))],
  ['windowAverage', (labels) => field.windowAverage({ labels }), (f) => f.add(5)],
  ['histogram', (labels) => field.histogram({ buckets: [1, 10], labels }), (f) => (f.record(0.5), f.record(5))],
  ['logLinearHistogram', (labels) => field.histogram({ lowest: 1, highest: 1000, precision: 2, labels }), (f) => f.record(7)],
  ['timer', (labels) => field.timer({ buckets: [0.1, 1], moving: 3, labels }), (f) => (f.record(0.25), f.record(2))],
  ['memoryUsage', (labels) => field.memoryUsage({ labels }), (f) => f.measure(() => 1)],
];

test('every field type can be labelled: a child reads exactly as the unlabelled field with the same updates', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Types', path: dir, defaultFields: false });
  try {
    for (const [name, make, apply] of TYPES) {
      const plain = stats.add(`plain.${name}`, make());
      const fam = stats.add(`fam.${name}`, make(['k', 'j'])) as Family;
      assert.ok(fam instanceof Family, name);
      apply(plain);
      apply(fam.with('x', 1));
    }
    const fields = readFields(stats.path);
    for (const [name] of TYPES) {
      const plain = fields.find((f) => f.label === `plain.${name}`)!;
      const child = fields.find((f) => f.label === `fam.${name}{k="x",j="1"}`);
      assert.ok(child, `${name}: the child is read`);
      const strip = (f: FieldValue) => {
        const v = f.value as any;
        // Memory figures and running clocks differ between two measurements; the shape and kind must not.
        if (name === 'memoryUsage') return Object.keys(v);
        return v;
      };
      assert.deepEqual(strip(child), strip(plain), name);
      assert.equal(child.type, plain.type, name);
      assert.equal(child.kind, plain.kind, name);
      assert.deepEqual(child.labels, { k: 'x', j: '1' }, name);
    }
  } finally {
    stats.remove();
  }
});

test('label names are checked when the field is made; label values when a child is asked for', () => {
  for (const [labels, pattern] of [
    [['1x'], /is not a name/],
    [['a-b'], /is not a name/],
    [[''], /is not a name/],
    [['__x'], /reserved/],
    [['le'], /reserved for the exposition/],
    [['quantile'], /reserved/],
    [['pid'], /reserved/],
    [['otel_metric_overflow'], /reserved/],
    [['a', 'a'], /twice/],
    [Array.from({ length: 17 }, (_, i) => `l${i}`), /at most 16/],
  ] as [string[], RegExp][]) {
    assert.throws(() => field.counter({ labels }), labelError(pattern), labels.join(','));
  }
  assert.throws(() => field.gauge({ labels: ['a'], maxSeries: 0 }), labelError(/maxSeries/));

  const dir = tempStatsDir();
  const stats = openStats({ name: 'Values', path: dir, defaultFields: false });
  try {
    const f = stats.add('req', field.counter({ labels: ['method', 'status'] }));
    assert.throws(() => (f.with as any)('GET'), labelError(/takes 2 label values/));
    assert.throws(() => (f.with as any)('GET', '200', 'x'), labelError(/not 3/));
    assert.throws(() => f.with('GET', '\ud800'), labelError(/lone surrogate/));
    assert.throws(() => f.with('GET', 'é'.repeat(65)), labelError(/130 bytes long; values hold at most 128/));
    assert.throws(() => f.with('GET', {} as never), labelError(/string or a number/));
    assert.throws(() => f.labels({ method: 'GET' } as never), labelError(/status is missing/));
    assert.throws(() => f.labels({ method: 'GET', status: 1, extra: 2 } as never), labelError(/no label extra/));
    const ok = f.with('GET', 'é'.repeat(64)); // 128 bytes: the limit itself is fine
    ok.incr();
    // A known child asked for with an unknown name is still an error, not a silent hit.
    f.with('GET', '200');
    assert.throws(() => f.labels({ method: 'GET', status: '200', extra: 1 } as never), labelError(/no label extra/));
    const seen = readFields(stats.path).filter((x) => x.family === 'req');
    assert.deepEqual(
      seen.map((x) => x.labels),
      [
        { method: 'GET', status: 'é'.repeat(64) },
        { method: 'GET', status: '200' },
      ],
    );
  } finally {
    stats.remove();
  }
});

test('a family of 5 or more labels: with() hits return the same child, checks arity, and a reader sees its labels', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Five', path: dir, defaultFields: false });
  try {
    const names = ['method', 'status', 'route', 'region', 'server', 'zone'] as const;
    const f = stats.add('req5', field.counter({ labels: names }));
    const a = f.with('GET', 200, '/users/:id', 'eu', 'h1', 'z');
    a.incr();
    assert.equal(f.with('GET', 200, '/users/:id', 'eu', 'h1', 'z'), a);
    assert.equal(f.with('GET', '200', '/users/:id', 'eu', 'h1', 'z'), a, 'a number and its string name one child');
    const b = f.with('GET', 200, '/users/:id', 'eu', 'h2', 'z');
    assert.notEqual(b, a);
    b.incr(5);
    assert.equal(f.labels({ method: 'GET', status: 200, route: '/users/:id', region: 'eu', server: 'h2', zone: 'z' }), b);
    assert.throws(() => (f.with as any)('GET', 200, '/users/:id', 'eu', 'h1'), labelError(/takes 6 label values/));
    assert.throws(() => (f.with as any)('GET', 200, '/users/:id', 'eu', 'h1', 'z', 'x'), labelError(/not 7/));
    const seen = readFields(stats.path).filter((x) => x.family === 'req5');
    assert.deepEqual(
      seen.map((x) => [x.labels, x.value]),
      [
        [{ method: 'GET', status: '200', route: '/users/:id', region: 'eu', server: 'h1', zone: 'z' }, 1],
        [{ method: 'GET', status: '200', route: '/users/:id', region: 'eu', server: 'h2', zone: 'z' }, 5],
      ],
    );
  } finally {
    stats.remove();
  }
});

test('remove and clear: readers stop seeing children, freed slots are reused, a stale handle never writes into a reused slot', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Churn', path: dir, defaultFields: false });
  try {
    const f = stats.add('jobs', field.counter({ labels: ['queue', 'worker'] }));
    const a = f.with('q', 1);
    a.incr(5);
    f.with('q', 2).incr(1);
    assert.equal(f.remove('q', '1'), true);
    assert.equal(f.remove({ queue: 'q', worker: 1 }), false, 'already gone');
    assert.deepEqual(
      readFields(stats.path).map((x) => x.label),
      ['jobs{queue="q",worker="2"}'],
    );
    // The freed slot goes to the next child: the stale handle must not reach it.
    const b = f.with('other', 'x');
    a.incr(1000);
    assert.equal(b.value, 0);
    assert.notEqual(f.with('q', 1), a, 'a removed label set makes a new child');
    assert.equal(f.with('q', 1).value, 0);
    const byLabel = new Map(readFields(stats.path).map((x) => [x.label, x.value]));
    assert.equal(byLabel.get('jobs{queue="other",worker="x"}'), 0);
    assert.equal(byLabel.get('jobs{queue="q",worker="1"}'), 0);

    // Churn: the file never grows past its peak.
    for (let i = 0; i < 50; i++) f.with('peak', i).incr();
    for (let i = 0; i < 50; i++) f.remove('peak', i);
    const peak = usedSize(stats.path);
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 50; i++) f.with(`r${round}`, i).incr(i);
      for (let i = 0; i < 50; i++) assert.equal(f.remove(`r${round}`, i), true);
    }
    assert.equal(usedSize(stats.path), peak, 'churn reuses slots');
    f.clear();
    assert.equal(f.size, 0);
    assert.deepEqual(readFields(stats.path), []);
  } finally {
    stats.remove();
  }
});

test('past maxSeries, new label sets share one overflow child, with one warning', async () => {
  const dir = tempStatsDir();
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const stats = openStats({ name: 'Limit', path: dir, defaultFields: false });
  try {
    const f = stats.add('hits', field.counter({ labels: ['user'], maxSeries: 3 }));
    for (let i = 0; i < 10; i++) f.with(`u${i}`).incr(1);
    f.with('u0').incr(10); // an existing child keeps its own series
    assert.equal(f.size, 3);
    assert.equal(f.with('u7'), f.with('u8'), 'one overflow child');
    await new Promise((r) => setImmediate(r));
    const mine = warnings.filter((w) => (w as { code?: string }).code === 'MMSTATS_CARDINALITY');
    assert.equal(mine.length, 1);
    assert.match(mine[0]!.message, /hits reached its limit of 3/);
    const byLabel = new Map(readFields(stats.path).map((x) => [x.label, x]));
    assert.equal(byLabel.get('hits{user="u0"}')!.value, 11);
    const over = byLabel.get('hits{otel_metric_overflow="true"}')!;
    assert.equal(over.value, 7);
    assert.deepEqual(over.labels, { otel_metric_overflow: 'true' });
    // Room again after a removal.
    f.remove('u1');
    f.with('fresh').incr();
    assert.equal(readFields(stats.path).find((x) => x.label === 'hits{user="fresh"}')!.value, 1);
  } finally {
    process.off('warning', onWarning);
    stats.remove();
  }
});

test('format 1 and shared mode refuse a labelled field with a clear error', () => {
  const dir = tempStatsDir();
  const v1 = openStats({ name: 'V1', path: dir, format: 1, defaultFields: false });
  try {
    assert.throws(
      () => v1.add('x', field.counter({ labels: ['a'] })),
      (e: unknown) => e instanceof MmstatsError && e.code === 'ERR_MMSTATS_UNSUPPORTED' && /labelled counter.*format 1/.test(e.message),
    );
  } finally {
    v1.remove();
  }
  const M = defineModel('SharedFam', { x: field.counter({ labels: ['a'] }) });
  assert.throws(
    () => M.open({ path: dir, shared: true }),
    (e: unknown) => e instanceof MmstatsError && e.code === 'ERR_MMSTATS_UNSUPPORTED' && /not supported in shared mode/.test(e.message),
  );
});

test('a kept file: children come back with their labels and values when the model is reopened', async () => {
  const dir = tempStatsDir();
  const body = `
    const M = defineModel('Kept', {
      req: field.counter({ labels: ['route'] }),
      lat: field.histogram({ buckets: [1, 2], labels: ['route'], maxSeries: 1 }),
    });
    const s = M.open({ path: env.DIR, filename: 'kept.mmstats', keep: true, defaultFields: false });
    on('add', () => {
      s.req.with('/a').incr(3);
      s.req.with('/b').incr(4);
      s.req.with('/gone').incr(1);
      s.req.remove('/gone');
      s.lat.with('/a').record(1.5);
      s.lat.with('/over').record(0.5);
    });
    on('more', () => { s.req.with('/a').incr(10); return s.req.with('/a').value; });
    ready(s.path);
  `;
  const w1 = runScript(body, { env: { DIR: dir } });
  const path = await w1.ready;
  await w1.call('add');
  await w1.end();
  const w2 = runScript(body, { env: { DIR: dir } });
  try {
    assert.equal(await w2.ready, path);
    assert.equal(await w2.call('more'), 13, 'the kept child is the one the model hands out');
    const byLabel = new Map(readFields(path).map((x) => [x.label, x.value as any]));
    assert.equal(byLabel.get('req{route="/a"}'), 13);
    assert.equal(byLabel.get('req{route="/b"}'), 4);
    assert.ok(!byLabel.has('req{route="/gone"}'));
    assert.equal(byLabel.get('lat{route="/a"}').count, 1);
    assert.equal(byLabel.get('lat{otel_metric_overflow="true"}').sum, 0.5);
  } finally {
    await w2.end();
    fs.rmSync(path, { force: true });
  }
});

test("a malformed slot or chunk is reported under its family; the file's other fields still read", () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Bad', path: dir, defaultFields: false });
  const before = stats.add('before', field.gauge());
  const f = stats.add('fam', field.counter({ labels: ['a'] }));
  const after = stats.add('after', field.gauge());
  before.set(1);
  after.set(2);
  f.with('x').incr(5);
  f.with('y').incr(6);
  const copy = `${dir}/copy.mmstats`;
  const bytes = fs.readFileSync(stats.path);
  stats.remove();
  const slots: number[] = [];
  for (let i = 0; i + 8 < bytes.length; i += 8) {
    // A live slot: even seq, state 1, one label of length 1 holding x or y.
    if (bytes.readUInt32LE(i + 4) === 1 && bytes.readUInt16LE(i + 8) === 1 && (bytes[i + 10] === 0x78 || bytes[i + 10] === 0x79))
      slots.push(i);
  }
  assert.equal(slots.length, 2);
  const cases: [string, (b: Buffer) => void, RegExp][] = [
    ['a label length past its room', (b) => b.writeUInt16LE(900, slots[0]! + 8), /label value 0 of 900 bytes/],
    ['invalid UTF-8 in a label', (b) => (b[slots[0]! + 10] = 0xff), /not valid UTF-8/],
    ['an unknown slot state', (b) => b.writeUInt32LE(9, slots[0]! + 4), /unknown state 9/],
    ['a chunk with too many slots', (b) => b.writeUInt32LE(100000, slots[0]! - 16 + 4), /claims 100000 slots/],
  ];
  for (const [what, damage, pattern] of cases) {
    const b = Buffer.from(bytes);
    damage(b);
    fs.writeFileSync(copy, b);
    const fields = readFields(copy);
    const byLabel = new Map(fields.map((x) => [x.label, x]));
    assert.equal(byLabel.get('before')!.value, 1, what);
    assert.equal(byLabel.get('after')!.value, 2, what);
    const err = fields.find((x) => x.error?.startsWith('ERR_MMSTATS_MALFORMED'));
    assert.ok(err, `${what}: reported`);
    assert.equal(err.family, 'fam');
    assert.match(err.error!, pattern, what);
    assert.ok(!fields.some((x) => x.family === 'fam' && x.value !== null && x.labels?.a !== 'x' && x.labels?.a !== 'y'), what);
  }
});

test('a kept file whose writer died mid-write of a child value brings back every other child', () => {
  const dir = tempStatsDir();
  const M = defineModel('Torn', { who: field.string({ size: 16, labels: ['k'] }) });
  const first = M.open({ path: dir, filename: 'torn.mmstats', keep: true, defaultFields: false });
  first.who.with('a').set('alpha');
  first.who.with('b').set('bravo');
  first.close();
  // Make child b's value look cut off mid-write: its own sequence odd.
  const bytes = fs.readFileSync(first.path);
  const at = bytes.indexOf(Buffer.from('bravo'));
  assert.ok(at > 0);
  const seq = at - 8; // the string's payload follows its sequence and length words
  bytes.writeUInt32LE(bytes.readUInt32LE(seq) | 1, seq);
  fs.writeFileSync(first.path, bytes);
  const again = M.open({ path: dir, filename: 'torn.mmstats', keep: true, defaultFields: false });
  try {
    const byLabel = new Map(readFields(again.path).map((x) => [x.label, x.value]));
    assert.equal(byLabel.get('who{k="a"}'), 'alpha');
    assert.ok(!byLabel.has('who{k="b"}'), 'the torn child is not carried over');
    assert.equal(again.who.with('b').value, '', 'it starts afresh');
  } finally {
    again.remove();
  }
});
