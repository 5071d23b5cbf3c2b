/**
 * Every field type, written in one process and read in another, in both formats
 * and both directions: boundaries, C-like wrapping, 64-bit exactness, non-finite
 * floats, strings cut on a character boundary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { defineModel, field, openStats, StatsReader, MmstatsError, type FieldValue, type Stats } from '../src/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';

type Fields = typeof field;
type Live = any;

/**
 * One field to round-trip. `make` and `apply` are sent as source text to the
 * other process, so they must be self-contained arrow functions.
 */
interface Case {
  readonly label: string;
  readonly make: (f: Fields) => any;
  readonly apply?: (x: Live) => void;
  readonly expect: unknown;
  /** Expected value when read from a v1 file, if it differs. */
  readonly expectV1?: unknown;
  readonly v2type: string;
  /** Struct format in a v1 file; absent for v2-only fields. */
  readonly v1type?: string;
  readonly kind?: string;
  readonly isStatic?: boolean;
}

const CASES: Case[] = [
  {
    label: 'counter.steps',
    make: (f) => f.counter(),
    apply: (x) => (x.incr(), x.incr(5), x.incr()),
    expect: 7,
    v2type: 'float64',
    v1type: 'Q',
    kind: 'counter',
  },
  // prettier-ignore
  { label: 'counter.at2p53', make: (f) => f.counter(), apply: (x) => (x.set(2 ** 53 - 1), x.incr()), expect: 2 ** 53, expectV1: 2n ** 53n, v2type: 'float64', v1type: 'Q', kind: 'counter' },
  {
    label: 'gauge',
    make: (f) => f.gauge(),
    apply: (x) => (x.set(-1.5), x.incr(0.25)),
    expect: -1.25,
    v2type: 'float64',
    v1type: 'd',
    kind: 'gauge',
  },
  { label: 'int8.max', make: (f) => f.int8(), apply: (x) => x.set(127), expect: 127, v2type: 'int8', v1type: 'b' },
  { label: 'int8.min', make: (f) => f.int8(), apply: (x) => x.set(-128), expect: -128, v2type: 'int8', v1type: 'b' },
  { label: 'int8.wrap', make: (f) => f.int8(), apply: (x) => x.set(200), expect: -56, v2type: 'int8', v1type: 'b' },
  { label: 'int8.wrapdown', make: (f) => f.int8(), apply: (x) => x.set(-129), expect: 127, v2type: 'int8', v1type: 'b' },
  { label: 'uint8.max', make: (f) => f.uint8(), apply: (x) => x.set(255), expect: 255, v2type: 'uint8', v1type: 'B' },
  { label: 'uint8.wrap', make: (f) => f.uint8(), apply: (x) => x.set(-1), expect: 255, v2type: 'uint8', v1type: 'B' },
  { label: 'int16.min', make: (f) => f.int16(), apply: (x) => x.set(-32768), expect: -32768, v2type: 'int16', v1type: 'h' },
  { label: 'int16.wrap', make: (f) => f.int16(), apply: (x) => x.set(40000), expect: 40000 - 65536, v2type: 'int16', v1type: 'h' },
  { label: 'uint16.max', make: (f) => f.uint16(), apply: (x) => x.set(65535), expect: 65535, v2type: 'uint16', v1type: 'H' },
  { label: 'uint16.wrap', make: (f) => f.uint16(), apply: (x) => x.set(65536 + 3), expect: 3, v2type: 'uint16', v1type: 'H' },
  { label: 'int32.max', make: (f) => f.int32(), apply: (x) => x.set(2147483647), expect: 2147483647, v2type: 'int32', v1type: 'i' },
  { label: 'int32.wrap', make: (f) => f.int32(), apply: (x) => x.set(2 ** 31), expect: -(2 ** 31), v2type: 'int32', v1type: 'i' },
  { label: 'uint32.wrap', make: (f) => f.uint32(), apply: (x) => x.set(-1), expect: 4294967295, v2type: 'uint32', v1type: 'I' },
  { label: 'uint32.over', make: (f) => f.uint32(), apply: (x) => x.set(2 ** 32 + 9), expect: 9, v2type: 'uint32', v1type: 'I' },
  { label: 'uint32.trunc', make: (f) => f.uint32(), apply: (x) => x.set(7.9), expect: 7, v2type: 'uint32', v1type: 'I' },
  { label: 'int64.max', make: (f) => f.int64(), apply: (x) => x.set(2n ** 63n - 1n), expect: 2n ** 63n - 1n, v2type: 'int64', v1type: 'q' },
  { label: 'int64.min', make: (f) => f.int64(), apply: (x) => x.set(-(2n ** 63n)), expect: -(2n ** 63n), v2type: 'int64', v1type: 'q' },
  { label: 'int64.wrap', make: (f) => f.int64(), apply: (x) => x.set(2n ** 63n), expect: -(2n ** 63n), v2type: 'int64', v1type: 'q' },
  {
    label: 'int64.past53',
    make: (f) => f.int64(),
    apply: (x) => x.set(2n ** 53n + 1n),
    expect: 2n ** 53n + 1n,
    v2type: 'int64',
    v1type: 'q',
  },
  { label: 'int64.neg', make: (f) => f.int64(), apply: (x) => (x.set(5), x.set(-3)), expect: -3, v2type: 'int64', v1type: 'q' },
  // prettier-ignore
  { label: 'int64.incr', make: (f) => f.int64(), apply: (x) => (x.set(2 ** 32 - 1), x.incr(), x.incr(2)), expect: 2 ** 32 + 2, v2type: 'int64', v1type: 'q' },
  {
    label: 'uint64.max',
    make: (f) => f.uint64(),
    apply: (x) => x.set(2n ** 64n - 1n),
    expect: 2n ** 64n - 1n,
    v2type: 'uint64',
    v1type: 'Q',
  },
  { label: 'uint64.wrap', make: (f) => f.uint64(), apply: (x) => x.set(-1), expect: 2n ** 64n - 1n, v2type: 'uint64', v1type: 'Q' },
  // prettier-ignore
  { label: 'float32.max', make: (f) => f.float32(), apply: (x) => x.set(3.4028234663852886e38), expect: 3.4028234663852886e38, v2type: 'float32', v1type: 'f' },
  { label: 'float32.round', make: (f) => f.float32(), apply: (x) => x.set(0.1), expect: Math.fround(0.1), v2type: 'float32', v1type: 'f' },
  { label: 'float32.nan', make: (f) => f.float32(), apply: (x) => x.set(NaN), expect: NaN, v2type: 'float32', v1type: 'f' },
  { label: 'float32.inf', make: (f) => f.float32(), apply: (x) => x.set(-Infinity), expect: -Infinity, v2type: 'float32', v1type: 'f' },
  {
    label: 'float64.max',
    make: (f) => f.float64(),
    apply: (x) => x.set(Number.MAX_VALUE),
    expect: Number.MAX_VALUE,
    v2type: 'float64',
    v1type: 'd',
  },
  {
    label: 'float64.tiny',
    make: (f) => f.float64(),
    apply: (x) => x.set(Number.MIN_VALUE),
    expect: Number.MIN_VALUE,
    v2type: 'float64',
    v1type: 'd',
  },
  { label: 'float64.nan', make: (f) => f.float64(), apply: (x) => x.set(NaN), expect: NaN, v2type: 'float64', v1type: 'd' },
  { label: 'float64.inf', make: (f) => f.float64(), apply: (x) => x.set(Infinity), expect: Infinity, v2type: 'float64', v1type: 'd' },
  { label: 'bool.true', make: (f) => f.bool(), apply: (x) => x.set(true), expect: true, v2type: 'bool', v1type: '?' },
  { label: 'bool.false', make: (f) => f.bool(), apply: (x) => (x.set(true), x.set(false)), expect: false, v2type: 'bool', v1type: '?' },
  {
    label: 'string.plain',
    make: (f) => f.string(),
    apply: (x) => x.set('/index.html'),
    expect: '/index.html',
    v2type: 'string',
    v1type: '255s',
    kind: 'info',
  },
  // 'aaaaaa€' is exactly 9 bytes: kept whole at size 9.
  {
    label: 'string.exact',
    make: (f) => f.string({ size: 9 }),
    apply: (x) => x.set('aaaaaa€'),
    expect: 'aaaaaa€',
    v2type: 'string',
    v1type: '9s',
  },
  // 'aaaaaaaa€' is 11 bytes: at size 10 the euro sign would be split, so it goes whole.
  {
    label: 'string.cut3',
    make: (f) => f.string({ size: 10 }),
    apply: (x) => x.set('aaaaaaaa€'),
    expect: 'aaaaaaaa',
    v2type: 'string',
    v1type: '10s',
  },
  // A 4-byte emoji straddling the limit, after 2-byte characters.
  {
    label: 'string.cut4',
    make: (f) => f.string({ size: 8 }),
    apply: (x) => x.set('ééé😀x'),
    expect: 'ééé',
    v2type: 'string',
    v1type: '8s',
  },
  {
    label: 'string.shrink',
    make: (f) => f.string({ size: 16 }),
    apply: (x) => (x.set('long long value'), x.set('ü')),
    expect: 'ü',
    v2type: 'string',
    v1type: '16s',
  },
  { label: 'static.int8', make: (f) => f.static.int8(-128), expect: -128, v2type: 'int8', v1type: 'b', kind: 'info', isStatic: true },
  { label: 'static.uint8', make: (f) => f.static.uint8(255), expect: 255, v2type: 'uint8', v1type: 'B', isStatic: true },
  { label: 'static.int16', make: (f) => f.static.int16(-2), expect: -2, v2type: 'int16', v1type: 'h', isStatic: true },
  { label: 'static.uint16', make: (f) => f.static.uint16(65535), expect: 65535, v2type: 'uint16', v1type: 'H', isStatic: true },
  { label: 'static.int32', make: (f) => f.static.int32(-(2 ** 31)), expect: -(2 ** 31), v2type: 'int32', v1type: 'i', isStatic: true },
  { label: 'static.uint32', make: (f) => f.static.uint32(4294967295), expect: 4294967295, v2type: 'uint32', v1type: 'I', isStatic: true },
  { label: 'static.uint32fn', make: (f) => f.static.uint32(() => 6 * 7), expect: 42, v2type: 'uint32', v1type: 'I', isStatic: true },
  { label: 'static.float32', make: (f) => f.static.float32(1.5), expect: 1.5, v2type: 'float32', v1type: 'f', isStatic: true },
  { label: 'static.float64', make: (f) => f.static.float64(Math.PI), expect: Math.PI, v2type: 'float64', v1type: 'd', isStatic: true },
  { label: 'static.int64', make: (f) => f.static.int64(-(2n ** 63n)), expect: -(2n ** 63n), v2type: 'int64', v1type: 'q', isStatic: true },
  {
    label: 'static.uint64',
    make: (f) => f.static.uint64(2n ** 64n - 1n),
    expect: 2n ** 64n - 1n,
    v2type: 'uint64',
    v1type: 'Q',
    isStatic: true,
  },
  { label: 'static.bool', make: (f) => f.static.bool(true), expect: true, v2type: 'bool', v1type: '?', isStatic: true },
  // prettier-ignore
  { label: 'static.string', make: (f) => f.static.string('ünïcödé ✓', { size: 32 }), expect: 'ünïcödé ✓', v2type: 'string', v1type: '32s', kind: 'info', isStatic: true },
  // prettier-ignore
  { label: 'compound', make: (f) => f.compound(['a', 'b', 'c']), apply: (x) => (x.set({ a: 1.5, b: -2 }), x.set({ c: 3 })), expect: { a: 1.5, b: -2, c: 3 }, v2type: 'struct', kind: 'compound' },
];

/** JSON that keeps bigints, non-finite numbers and -0 (the child-process channel is JSON). */
function encode(v: unknown): unknown {
  return JSON.parse(
    JSON.stringify(v, (_k, x) => {
      if (typeof x === 'bigint') return { $big: x.toString() };
      if (typeof x === 'number' && !Number.isFinite(x)) return { $num: String(x) };
      return x;
    }),
  );
}

/** Inverse of `encode`, in the test process. */
function decode(v: any): any {
  if (Array.isArray(v)) return v.map(decode);
  if (v && typeof v === 'object') {
    if ('$big' in v) return BigInt(v.$big);
    if ('$num' in v) return Number(v.$num);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
  }
  return v;
}

/** Source of the same codec for the child. */
const CHILD_CODEC = `
const encode = ${encode.toString()};
`;

function casesFor(format: 1 | 2): Case[] {
  return CASES.filter((c) => format === 2 || c.v1type !== undefined);
}

function checkSnapshot(fields: readonly FieldValue[], format: 1 | 2): void {
  const byLabel = new Map(fields.map((f) => [f.label, f]));
  for (const c of casesFor(format)) {
    const got = byLabel.get(c.label);
    assert.ok(got, `field ${c.label} is missing`);
    const want = format === 1 && 'expectV1' in c ? c.expectV1 : c.expect;
    assert.deepEqual(got.value, want, `value of ${c.label} (format ${format})`);
    assert.equal(got.type, format === 2 ? c.v2type : c.v1type, `type of ${c.label}`);
    if (format === 2) {
      if (c.kind) assert.equal(got.kind, c.kind, `kind of ${c.label}`);
      assert.equal(got.static, c.isStatic === true, `static flag of ${c.label}`);
    }
  }
}

const WRITER_BODY = (format: 1 | 2) => `
const cases = [${casesFor(format)
  .map((c) => `{ label: ${JSON.stringify(c.label)}, make: ${c.make.toString()}, apply: ${c.apply ? c.apply.toString() : 'undefined'} }`)
  .join(',\n')}];
const stats = openStats({ name: 'RoundTrip', path: env.DIR, format: ${format} });
for (const c of cases) {
  const x = stats.add(c.label, c.make(field));
  if (c.apply) c.apply(x);
}
ready(stats.path);
`;

const READER_BODY = `
${CHILD_CODEC}
on('read', (file) => {
  const r = StatsReader.open(file);
  try { return encode(r.read()); } finally { r.close(); }
});
ready();
`;

for (const format of [2, 1] as const) {
  test(`format ${format}: every field type written in a child process reads back exactly here`, async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER_BODY(format), { env: { DIR: dir } });
    try {
      const file: string = await w.ready;
      const r = StatsReader.open(file);
      try {
        const snap = r.read();
        assert.equal(snap.format, format);
        assert.equal(snap.writer.pid, w.pid);
        checkSnapshot(snap.fields, format);
      } finally {
        r.close();
      }
    } finally {
      await w.end();
    }
  });

  test(`format ${format}: every field type written here reads back exactly in a child process`, async () => {
    const dir = tempStatsDir();
    const stats = openStats({ name: 'RoundTrip', path: dir, format });
    const reader = runScript(READER_BODY);
    try {
      for (const c of casesFor(format)) {
        const x = stats.add(c.label, c.make(field));
        c.apply?.(x);
      }
      await reader.ready;
      const snap = decode(await reader.call('read', stats.path));
      assert.equal(snap.format, format);
      assert.equal(snap.writer.pid, process.pid);
      assert.equal(snap.writer.alive, true);
      checkSnapshot(snap.fields, format);
    } finally {
      stats.remove();
      await reader.end();
    }
  });
}

test('the writer sees the wrapped value it stored, as the reader does', () => {
  const dir = tempStatsDir();
  for (const format of [1, 2] as const) {
    const stats = openStats({ name: 'Wrap', path: dir, format });
    try {
      const i8 = stats.add('i8', field.int8());
      i8.set(200);
      assert.equal(i8.value, -56);
      const u32 = stats.add('u32', field.uint32());
      u32.set(-1);
      assert.equal(u32.value, 4294967295);
      const u64 = stats.add('u64', field.uint64());
      u64.set(-1n);
      assert.equal(u64.value, 2n ** 64n - 1n);
      const s = stats.add('s', field.string({ size: 4 }));
      s.set('ab€');
      assert.equal(s.value, 'ab');
    } finally {
      stats.remove();
    }
  }
});

test('a counter counts exactly to 2^53 in a live file', () => {
  const dir = tempStatsDir();
  const stats: Stats = openStats({ name: 'Big', path: dir });
  try {
    const c = stats.add('c', field.counter());
    c.value = 2 ** 53 - 10;
    for (let i = 0; i < 10; i++) c.incr();
    const r = StatsReader.open(stats.path);
    try {
      assert.equal(r.read().fields.find((f) => f.label === 'c')?.value, 2 ** 53);
    } finally {
      r.close();
    }
  } finally {
    stats.remove();
  }
});

test('a compound field cannot be written in format 1: ERR_MMSTATS_UNSUPPORTED names the field', () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'NoCompound', path: dir, format: 1 });
  try {
    assert.throws(
      () => stats.add('pair', field.compound(['a', 'b'])),
      (err: unknown) => err instanceof MmstatsError && err.code === 'ERR_MMSTATS_UNSUPPORTED' && /pair/.test(err.message),
    );
  } finally {
    stats.remove();
  }
});

test('an open that fails on a field (a compound in format 1) leaves no file behind', () => {
  const dir = tempStatsDir();
  const M = defineModel('Half', { n: field.counter(), pair: field.compound(['a', 'b']) });
  assert.throws(
    () => M.open({ path: dir, format: 1 }),
    (err: unknown) => err instanceof MmstatsError && err.code === 'ERR_MMSTATS_UNSUPPORTED',
  );
  assert.deepEqual(fs.readdirSync(dir), []);
  // The same model opens fine in format 2.
  const stats = M.open({ path: dir });
  stats.pair.set({ a: 1, b: 2 });
  stats.remove();
});
