/**
 * Format v1, the original's: files built byte by byte from the documented layout
 * are read correctly (here and in another process), and a `format: 1` writer
 * produces exactly those bytes, double-buffering as the original did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { field, openStats, StatsReader, type FieldValue } from '../src/index.js';
import { pageSize } from '../src/native/index.js';
import { runScript, tempStatsDir } from './helpers/proc.js';
import { enc, v1File, v1FieldBytes, type V1Fixture } from './fixtures/v1/builder.js';

const PAGE = pageSize();
const UNBUFFERED = 0xff;

/**
 * Every type the original wrote. Buffered fields hold a decoy in the copy being
 * written, so reading the wrong copy gives the wrong answer.
 */
const ORIGINAL: readonly (V1Fixture & { expect: unknown })[] = [
  // CounterField: Q, buffered; write buffer 0, so the reader reads copy 1.
  { label: 'web.requests', type: 'Q', writeBuffer: 0, values: [enc.u64(999n), enc.u64(12345n)], expect: 12345 },
  // Write buffer 1: the reader must read copy 0.
  { label: 'web.bytes', type: 'Q', writeBuffer: 1, values: [enc.u64(2n ** 64n - 1n), enc.u64(1n)], expect: 2n ** 64n - 1n },
  { label: 'web.latency', type: 'd', writeBuffer: 0, values: [enc.f64(-1), enc.f64(0.125)], expect: 0.125 },
  { label: 'web.workers', type: 'I', writeBuffer: 1, values: [enc.u32(4294967295), enc.u32(3)], expect: 4294967295 },
  { label: 'web.delta', type: 'i', writeBuffer: 0, values: [enc.i32(0), enc.i32(-2147483648)], expect: -2147483648 },
  { label: 'web.ushort', type: 'H', writeBuffer: 0, values: [enc.u16(1), enc.u16(65535)], expect: 65535 },
  { label: 'web.short', type: 'h', writeBuffer: 1, values: [enc.i16(-32768), enc.i16(5)], expect: -32768 },
  { label: 'web.ratio', type: 'f', writeBuffer: 0, values: [enc.f32(9), enc.f32(0.5)], expect: 0.5 },
  { label: 'web.byte', type: 'b', writeBuffer: UNBUFFERED, values: [enc.i8(-7)], expect: -7 },
  { label: 'web.up', type: '?', writeBuffer: UNBUFFERED, values: [enc.bool(true)], expect: true },
  { label: 'web.down', type: '?', writeBuffer: UNBUFFERED, values: [enc.bool(false)], expect: false },
  { label: 'web.path', type: '255s', writeBuffer: UNBUFFERED, values: [enc.str('/wiki/Ünïcode', 255)], expect: '/wiki/Ünïcode' },
  // Cut at the first NUL; bytes after it are ignored.
  {
    label: 'web.nul',
    type: '16s',
    writeBuffer: UNBUFFERED,
    values: [enc.str(Buffer.concat([Buffer.from('abc'), Buffer.from([0]), Buffer.from('junk')]), 16)],
    expect: 'abc',
  },
  // Invalid UTF-8 (a lone continuation byte) is dropped, not fatal.
  {
    label: 'web.badutf8',
    type: '8s',
    writeBuffer: UNBUFFERED,
    values: [enc.str(Buffer.from([0x61, 0x80, 0x62]), 8)],
    expect: 'ab',
  },
  { label: 'sys.pid', type: 'I', writeBuffer: UNBUFFERED, values: [enc.u32(4242)], expect: 4242 },
  { label: 'sys.tid', type: 'q', writeBuffer: UNBUFFERED, values: [enc.i64(-(2n ** 63n))], expect: -(2n ** 63n) },
  { label: 'sys.uid', type: 'Q', writeBuffer: UNBUFFERED, values: [enc.u64(1000n)], expect: 1000 },
  { label: 'static.float', type: 'f', writeBuffer: UNBUFFERED, values: [enc.f32(-2.5)], expect: -2.5 },
  { label: 'sys.created', type: 'd', writeBuffer: UNBUFFERED, values: [enc.f64(1700000000.5)], expect: 1700000000.5 },
  {
    label: 'org.python.version',
    type: '256s',
    writeBuffer: UNBUFFERED,
    values: [enc.str('2.7.18 (default)', 256)],
    expect: '2.7.18 (default)',
  },
];

function checkOriginal(fields: readonly FieldValue[]): void {
  assert.deepEqual(
    fields.map((f) => f.label),
    ORIGINAL.map((f) => f.label),
    'fields in file order',
  );
  fields.forEach((f, i) => {
    const want = ORIGINAL[i]!;
    assert.equal(f.type, want.type, `type of ${want.label}`);
    assert.deepEqual(f.value, want.expect, `value of ${want.label}`);
  });
}

function writeFixture(name: string, bytes: Buffer): string {
  const file = path.join(tempStatsDir(), name);
  fs.writeFileSync(file, bytes, { mode: 0o600 });
  return file;
}

test('a hand-built v1 file with every original type reads correctly, buffered fields from copy writeBuffer^1', () => {
  const file = writeFixture('original.mmstats', v1File(ORIGINAL, PAGE));
  const r = StatsReader.open(file);
  try {
    const snap = r.read();
    assert.equal(snap.format, 1);
    checkOriginal(snap.fields);
    assert.equal(snap.writer.pid, 4242);
    assert.equal(snap.writer.createdMs, 1700000000500);
  } finally {
    r.close();
  }
});

test('a hand-built v1 file reads the same in another process', async () => {
  const file = writeFixture('original.mmstats', v1File(ORIGINAL, PAGE));
  const reader = runScript(`
on('read', (file) => {
  const r = StatsReader.open(file);
  try { return r.read().fields.map((f) => ({ label: f.label, type: f.type, value: typeof f.value === 'bigint' ? { big: String(f.value) } : f.value })); }
  finally { r.close(); }
});
ready();
`);
  try {
    await reader.ready;
    const got: { label: string; type: string; value: unknown }[] = await reader.call('read', file);
    checkOriginal(
      got.map((f) => ({
        ...f,
        kind: 'untyped',
        unit: '',
        help: '',
        static: false,
        value: f.value && typeof f.value === 'object' ? BigInt((f.value as { big: string }).big) : (f.value as any),
      })),
    );
  } finally {
    await reader.end();
  }
});

test('a v1 file whose field list fills the file exactly (no zero label after it) still reads', () => {
  const bytes = Buffer.concat([
    Buffer.from([1]),
    v1FieldBytes({ label: 'a', type: 'I', writeBuffer: 0, values: [enc.u32(1), enc.u32(2)] }),
  ]);
  const file = writeFixture('exact.mmstats', bytes);
  const r = StatsReader.open(file);
  try {
    assert.deepEqual(
      r.read().fields.map((f) => [f.label, f.value]),
      [['a', 2]],
    );
  } finally {
    r.close();
  }
});

/** Byte-for-byte equality, reporting the first difference in hex. */
function sameBytes(actual: Buffer, expected: Buffer, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: file size`);
  const at = actual.findIndex((b, i) => b !== expected[i]);
  if (at >= 0) {
    const from = Math.max(0, at - 8);
    assert.fail(
      `${what}: first difference at byte ${at}\n  actual   ${actual.subarray(from, at + 16).toString('hex')}\n  expected ${expected.subarray(from, at + 16).toString('hex')}`,
    );
  }
}

/** The writer script: one field of each kind, no default fields, updated on request. */
const V1_WRITER = `
const stats = openStats({ name: 'V1', path: env.DIR, format: 1, defaultFields: false });
const f = {
  apples: stats.add('apples', field.uint32()),
  hits: stats.add('hits', field.counter()),
  load: stats.add('load', field.gauge()),
  flag: stats.add('flag', field.bool()),
  tiny: stats.add('tiny', field.int8()),
  name: stats.add('name', field.string({ size: 8 })),
  boot: stats.add('boot', field.static.uint32(77)),
};
on('set', (name, value) => { f[name].set(value); });
on('incr', (name) => { f[name].incr(); });
ready(stats.path);
`;

/** What the file must hold, by the original's layout, after the given updates. */
function expectedV1(
  state: {
    apples: [number, number, number];
    hits: [number, number, number];
    name: string;
    flag: boolean;
    tiny: number;
  },
  size: number,
) {
  const [aWb, a0, a1] = state.apples;
  const [hWb, h0, h1] = state.hits;
  return v1File(
    [
      { label: 'apples', type: 'I', writeBuffer: aWb, values: [enc.u32(a0), enc.u32(a1)] },
      { label: 'hits', type: 'Q', writeBuffer: hWb, values: [enc.u64(BigInt(h0)), enc.u64(BigInt(h1))] },
      { label: 'load', type: 'd', writeBuffer: 0, values: [enc.f64(0), enc.f64(0)] },
      { label: 'flag', type: '?', writeBuffer: UNBUFFERED, values: [enc.bool(state.flag)] },
      { label: 'tiny', type: 'b', writeBuffer: UNBUFFERED, values: [enc.i8(state.tiny)] },
      { label: 'name', type: '8s', writeBuffer: UNBUFFERED, values: [enc.str(state.name, 8)] },
      { label: 'boot', type: 'I', writeBuffer: UNBUFFERED, values: [enc.u32(77)] },
    ],
    PAGE,
    size,
  );
}

test('a format 1 writer lays out the original bytes exactly, and flips the write buffer on each update', async () => {
  const dir = tempStatsDir();
  const w = runScript(V1_WRITER, { env: { DIR: dir } });
  try {
    const file: string = await w.ready;
    const bytes = () => fs.readFileSync(file);
    // The writer starts with room to spare (a page multiple); the bytes past the fields are the zero fill.
    const size = bytes().length;
    const state = { apples: [0, 0, 0], hits: [0, 0, 0], name: '', flag: false, tiny: 0 } as Parameters<typeof expectedV1>[0];
    // As created: every buffered field writes copy 0 first, both copies zero.
    sameBytes(bytes(), expectedV1(state, size), 'step 1');
    assert.equal(bytes().length % PAGE, 0, 'file size is a multiple of the page size');
    // The documented example: 06 00 'apples' 01 00 'I' <wb> <4 bytes> <4 bytes>.
    assert.deepEqual(
      bytes().subarray(1, 1 + 2 + 6 + 2 + 1 + 1 + 8),
      Buffer.from([6, 0, ...Buffer.from('apples'), 1, 0, 0x49, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    );

    await w.call('set', 'apples', 7); // written into copy 0, then the byte flips to 1
    state.apples = [1, 7, 0];
    sameBytes(bytes(), expectedV1(state, size), 'step 2');
    await w.call('set', 'apples', 8); // copy 1, flips back to 0
    state.apples = [0, 7, 8];
    sameBytes(bytes(), expectedV1(state, size), 'step 3');
    await w.call('set', 'apples', 9);
    state.apples = [1, 9, 8];
    sameBytes(bytes(), expectedV1(state, size), 'step 4');

    await w.call('incr', 'hits');
    await w.call('incr', 'hits');
    await w.call('incr', 'hits');
    state.hits = [1, 3, 2];
    await w.call('set', 'flag', true);
    state.flag = true;
    await w.call('set', 'tiny', 200);
    state.tiny = -56;
    await w.call('set', 'name', 'abcdefgh-cut');
    state.name = 'abcdefgh';
    sameBytes(bytes(), expectedV1(state, size), 'step 5');

    const r = StatsReader.open(file);
    try {
      const values = Object.fromEntries(r.read().fields.map((f) => [f.label, f.value]));
      assert.deepEqual(values, { apples: 9, hits: 3, load: 0, flag: true, tiny: -56, name: 'abcdefgh', boot: 77 });
    } finally {
      r.close();
    }
  } finally {
    await w.end();
  }
});

test('a format 1 file grown past its first page stays a page multiple and keeps the zero terminator', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
const stats = openStats({ name: 'V1Grow', path: env.DIR, format: 1, defaultFields: false });
let n = 0;
on('add', (count) => { for (let i = 0; i < count; i++) stats.add('f' + n++, field.string({ size: 1000 })).set('v' + (n - 1)); });
ready(stats.path);
`,
    { env: { DIR: dir } },
  );
  try {
    const file: string = await w.ready;
    const r = StatsReader.open(file);
    try {
      await w.call('add', 40); // ~40 KB: past the 16 KiB first size
      const size = fs.statSync(file).size;
      assert.ok(size > 40_000, `file grew (${size})`);
      assert.equal(size % PAGE, 0);
      const snap = r.read();
      assert.equal(snap.fields.length, 40);
      assert.equal(snap.fields[39]!.value, 'v39');
      // 0x01, then per field: u16, label, u16, '1000s', write-buffer byte, 1000 bytes.
      let end = 1;
      for (let i = 0; i < 40; i++) end += 2 + `f${i}`.length + 2 + 5 + 1 + 1000;
      const bytes = fs.readFileSync(file);
      assert.equal(bytes.readUInt16LE(end - 1000 - 1 - 5 - 2 - 3 - 2), 3, 'label length of the last field');
      assert.equal(bytes.readUInt16LE(end), 0, 'a zero label length ends the list');
    } finally {
      r.close();
    }
  } finally {
    await w.end();
  }
});

test('a v1 writer in this process is read by a reader in another process while it updates', async () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'V1Live', path: dir, format: 1 });
  const count = stats.add('count', field.counter());
  const reader = runScript(`
on('read', (file) => {
  const r = StatsReader.open(file);
  try { return Object.fromEntries(r.read().fields.map((f) => [f.label, typeof f.value === 'bigint' ? String(f.value) : f.value])); }
  finally { r.close(); }
});
ready();
`);
  try {
    await reader.ready;
    for (let i = 1; i <= 5; i++) {
      count.incr();
      const v = await reader.call('read', stats.path);
      assert.equal(v.count, i);
      assert.equal(v['sys.pid'], process.pid);
      assert.equal(v['org.nodejs.version'], process.version);
    }
  } finally {
    stats.remove();
    await reader.end();
  }
});

test('a v1 timer stores seconds whatever unit it records in, as the original tools read it (FORMAT.md §9)', async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
const stats = openStats({ name: 'Units', path: env.DIR, format: 1 });
const units = ['seconds', 'milliseconds', 'microseconds', 'nanoseconds'];
const timers = units.map((unit) => stats.add('t.' + unit, field.timer({ unit })));
// 250 ms and 350 ms, each in the timer's own unit.
const perMs = { seconds: 1e-3, milliseconds: 1, microseconds: 1e3, nanoseconds: 1e6 };
timers.forEach((t, i) => { t.record(250 * perMs[units[i]]); t.record(350 * perMs[units[i]]); });
ready({ path: stats.path, means: timers.map((t) => t.value), lasts: timers.map((t) => t.last) });
`,
    { env: { DIR: dir } },
  );
  try {
    const { path: file, means, lasts } = await w.ready;
    // The API keeps the timer's unit.
    const close = (got: number[], want: number[]) => got.every((g, i) => Math.abs(g - want[i]!) <= 1e-9 * want[i]!);
    assert.ok(close(means, [0.3, 300, 300_000, 300_000_000]), `means ${means.join(' ')}`);
    assert.ok(close(lasts, [0.35, 350, 350_000, 350_000_000]), `lasts ${lasts.join(' ')}`);
    const r = StatsReader.open(file);
    const snap = r.read();
    r.close();
    for (const unit of ['seconds', 'milliseconds', 'microseconds', 'nanoseconds']) {
      const v = snap.fields.find((f) => f.label === `t.${unit}`)!.value as number;
      assert.ok(Math.abs(v - 0.3) < 1e-12, `t.${unit} holds ${v}, not 0.3 s`);
    }
  } finally {
    await w.end();
  }
});
