/**
 * The Python reader (contrib/python/mmstats_reader.py, written from docs/FORMAT.md
 * alone) agrees with the TypeScript reader, field by field, on files of every
 * field type written by a real writer process, in both formats; rejects the same
 * broken files the TypeScript reader rejects, without crashing; never returns a
 * mixed seqlocked value from a busy writer; and judges liveness by the writer's
 * lock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StatsReader, MmstatsError, openStats, field, type Snapshot, type FieldValue } from '../src/index.js';
import { DATA_TYPE_NAMES, Header, KIND_NAMES, Record as Rec, RecordFlags } from '../src/format/v2.js';
import { pageSize } from '../src/native/index.js';
import { DIST, runCli, runScript, tempStatsDir, waitFor } from './helpers/proc.js';
import { enc, v1File } from './fixtures/v1/builder.js';

const READER = path.join(DIST, '..', 'contrib', 'python', 'mmstats_reader.py');

/** Why the tests cannot run here, or false when python3 (3.9+) is available. */
const NO_PYTHON: string | false = (() => {
  const r = spawnSync('python3', ['-c', 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 3)'], { encoding: 'utf8' });
  if (r.error) return 'python3 is not installed: install python3 (3.9 or later) to run the Python reader tests';
  if (r.status !== 0) return 'python3 is older than 3.9: install python3 3.9 or later to run the Python reader tests';
  return false;
})();

interface PyRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the Python reader on `files` (asynchronously: writers keep running meanwhile). */
function runPython(files: readonly string[]): Promise<PyRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [READER, '--compact', ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * JSON.parse that keeps integers exact: an integer literal of 16 or more digits
 * (outside strings) becomes a bigint. Node's JSON.parse would round it.
 */
function parseExact(text: string): any {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i))!;
      const isBigInt = m[1] === undefined && m[2] === undefined && m[0].replace('-', '').length >= 16;
      out += isBigInt ? JSON.stringify({ $big: m[0] }) : m[0];
      i += m[0].length;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out, (_k, v) => (v && typeof v === 'object' && '$big' in v ? BigInt(v.$big) : v));
}

const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/** Assert that a value printed by Python equals the TypeScript reader's. */
function sameValue(py: unknown, ts: unknown, where: string): void {
  if (typeof ts === 'bigint' || typeof py === 'bigint') {
    assert.ok(typeof py === 'bigint' || (typeof py === 'number' && Number.isInteger(py)), `${where}: python gave ${String(py)}`);
    if (typeof ts === 'number') assert.ok(Number.isInteger(ts), `${where}: typescript gave ${ts}`);
    assert.equal(BigInt(py as number | bigint), BigInt(ts as number | bigint), where);
  } else if (typeof ts === 'number') {
    const n = typeof py === 'string' && py in NON_FINITE ? NON_FINITE[py] : py;
    assert.equal(n, ts, where); // Object.is: NaN equals NaN, -0 differs from 0
  } else if (ts !== null && typeof ts === 'object') {
    assert.ok(py !== null && typeof py === 'object', `${where}: python gave ${JSON.stringify(py)}`);
    if (Array.isArray(ts)) {
      assert.ok(Array.isArray(py), `${where}: not an array`);
      assert.equal(py.length, ts.length, `${where}: length`);
      ts.forEach((x, i) => sameValue(py[i], x, `${where}[${i}]`));
    } else {
      assert.deepEqual(Object.keys(py).sort(), Object.keys(ts).sort(), `${where}: keys`);
      for (const [k, x] of Object.entries(ts)) sameValue((py as Record<string, unknown>)[k], x, `${where}.${k}`);
    }
  } else {
    assert.equal(py, ts, where);
  }
}

/** Assert that Python's snapshot of a file is the TypeScript reader's, field by field. */
function sameSnapshot(py: any, ts: Snapshot): void {
  assert.equal(py.path, ts.path);
  assert.equal(py.format, ts.format, 'format');
  assert.equal(py.generation, ts.generation, 'generation');
  sameValue(py.writer, ts.writer, 'writer');
  assert.deepEqual(
    py.fields.map((f: FieldValue) => f.label),
    ts.fields.map((f) => f.label),
    'labels, in file order',
  );
  ts.fields.forEach((t, i) => {
    const p = py.fields[i];
    for (const key of ['type', 'kind', 'unit', 'help', 'static'] as const) assert.equal(p[key], t[key], `${key} of ${t.label}`);
    sameValue(p.value, t.value, `value of ${t.label}`);
    assert.equal('error' in p, t.error !== undefined, `error of ${t.label}: python ${p.error}, typescript ${t.error}`);
  });
}

type Fields = any;

/**
 * One field of every kind the writer can make. `make` and `apply` are sent as
 * source text to the writer process, so they must be self-contained.
 */
interface Case {
  readonly label: string;
  /** The `field` factory used (`static.int8` for statics): every factory must have a case. */
  readonly factory: string;
  readonly make: (f: Fields) => any;
  readonly apply?: (x: any) => unknown;
  /** The field has a v1 form. */
  readonly v1: boolean;
}

// Fields that re-publish on a timer get intervals far longer than the test, so the
// two readers see the same values.
// prettier-ignore
const CASES: readonly Case[] = [
  { label: 'c.counter', factory: 'counter', make: (f) => f.counter({ help: 'requests', unit: 'requests' }), apply: (x) => x.incr(41), v1: true },
  { label: 'c.counter53', factory: 'counter', make: (f) => f.counter(), apply: (x) => x.set(2 ** 53), v1: true },
  { label: 'c.gauge', factory: 'gauge', make: (f) => f.gauge({ unit: 'bytes' }), apply: (x) => (x.set(-1.5), x.incr(0.25)), v1: true },
  { label: 'c.int8', factory: 'int8', make: (f) => f.int8(), apply: (x) => x.set(200), v1: true },
  { label: 'c.uint8', factory: 'uint8', make: (f) => f.uint8(), apply: (x) => x.set(-1), v1: true },
  { label: 'c.int16', factory: 'int16', make: (f) => f.int16(), apply: (x) => x.set(-32768), v1: true },
  { label: 'c.uint16', factory: 'uint16', make: (f) => f.uint16({ kind: 'counter' }), apply: (x) => x.set(65535), v1: true },
  { label: 'c.int32', factory: 'int32', make: (f) => f.int32({ kind: 'untyped' }), apply: (x) => x.set(2 ** 31), v1: true },
  { label: 'c.uint32', factory: 'uint32', make: (f) => f.uint32(), apply: (x) => x.set(7.9), v1: true },
  { label: 'c.float32', factory: 'float32', make: (f) => f.float32(), apply: (x) => x.set(0.1), v1: true },
  { label: 'c.float32inf', factory: 'float32', make: (f) => f.float32(), apply: (x) => x.set(1e40), v1: true },
  { label: 'c.float64nan', factory: 'float64', make: (f) => f.float64(), apply: (x) => x.set(NaN), v1: true },
  { label: 'c.float64neginf', factory: 'float64', make: (f) => f.float64(), apply: (x) => x.set(-Infinity), v1: true },
  { label: 'c.float64negzero', factory: 'float64', make: (f) => f.float64(), apply: (x) => x.set(-0), v1: true },
  { label: 'c.float64max', factory: 'float64', make: (f) => f.float64(), apply: (x) => x.set(Number.MAX_VALUE), v1: true },
  { label: 'c.int64min', factory: 'int64', make: (f) => f.int64(), apply: (x) => x.set(-(2n ** 63n)), v1: true },
  { label: 'c.int64past53', factory: 'int64', make: (f) => f.int64({ kind: 'counter' }), apply: (x) => x.set(2n ** 53n + 1n), v1: true },
  { label: 'c.uint64max', factory: 'uint64', make: (f) => f.uint64(), apply: (x) => x.set(2n ** 64n - 1n), v1: true },
  { label: 'c.uint64small', factory: 'uint64', make: (f) => f.uint64(), apply: (x) => x.set(12345), v1: true },
  { label: 'c.bool', factory: 'bool', make: (f) => f.bool(), apply: (x) => x.set(true), v1: true },
  { label: 'c.string', factory: 'string', make: (f) => f.string({ help: 'path "quoted" \\ and 1234567890123456789' }), apply: (x) => x.set('/wiki/Ünïcode'), v1: true },
  // 4-byte emoji at the size limit: cut on a character boundary.
  { label: 'c.stringcut', factory: 'string', make: (f) => f.string({ size: 8 }), apply: (x) => x.set('ééé😀x'), v1: true },
  { label: 'c.stringfull', factory: 'string', make: (f) => f.string({ size: 9 }), apply: (x) => x.set('aaaaaa€'), v1: true },
  { label: 'c.compound', factory: 'compound', make: (f) => f.compound(['lo', 'hi', 'big']), apply: (x) => x.set({ lo: -0.5, hi: 1e300, big: 2 ** 60 }), v1: false },
  { label: 'c.sampling', factory: 'samplingCounter', make: (f) => f.samplingCounter({ interval: 3_600_000 }), apply: (x) => x.incr(9), v1: false },
  { label: 'c.minmax', factory: 'minMax', make: (f) => f.minMax(), apply: (x) => [3, -2, 8].forEach((v) => x.record(v)), v1: false },
  { label: 'c.average', factory: 'average', make: (f) => f.average(), apply: (x) => [1, 2, 4].forEach((v) => x.add(v)), v1: true },
  { label: 'c.moving', factory: 'movingAverage', make: (f) => f.movingAverage({ size: 2 }), apply: (x) => [1, 2, 4].forEach((v) => x.add(v)), v1: true },
  { label: 'c.window', factory: 'windowAverage', make: (f) => f.windowAverage({ window: 3_600_000 }), apply: (x) => [5, 6].forEach((v) => x.add(v)), v1: true },
  { label: 'c.histogram', factory: 'histogram', make: (f) => f.histogram(), apply: (x) => [0.001, 0.5, 2, 2, 1e9, -1].forEach((v) => x.record(v)), v1: false },
  { label: 'c.histexplicit', factory: 'histogram', make: (f) => f.histogram({ buckets: [1, 10, 100], moving: 3 }), apply: (x) => [0.5, 10, 11, 1000].forEach((v) => x.record(v)), v1: false },
  { label: 'c.timer', factory: 'timer', make: (f) => f.timer({ unit: 'milliseconds' }), apply: (x) => [1.5, 2.5, 30].forEach((v) => x.record(v)), v1: true },
  { label: 'c.memory', factory: 'memoryUsage', make: (f) => f.memoryUsage(), apply: (x) => (x.record(1024, 4096), x.record(-10, 0)), v1: false },
  { label: 'c.process', factory: 'processMemory', make: (f) => f.processMemory(), apply: (x) => (x.refresh(), x.stop()), v1: false },
  // Labelled families (format 2.1): children of two field types.
  { label: 'c.family', factory: 'counter', make: (f) => f.counter({ labels: ['method', 'status'] }), apply: (x) => (x.with('GET', 200).incr(2), x.with('PUT', 'é"\\').incr(1)), v1: false },
  { label: 'c.famhist', factory: 'histogram', make: (f) => f.histogram({ buckets: [1, 2], labels: ['route'] }), apply: (x) => x.with('/a').record(1.5), v1: false },
  { label: 's.int8', factory: 'static.int8', make: (f) => f.static.int8(-128), v1: true },
  { label: 's.uint8', factory: 'static.uint8', make: (f) => f.static.uint8(() => 255), v1: true },
  { label: 's.int16', factory: 'static.int16', make: (f) => f.static.int16(-2), v1: true },
  { label: 's.uint16', factory: 'static.uint16', make: (f) => f.static.uint16(65535), v1: true },
  { label: 's.int32', factory: 'static.int32', make: (f) => f.static.int32(-(2 ** 31)), v1: true },
  { label: 's.uint32', factory: 'static.uint32', make: (f) => f.static.uint32(2 ** 32 - 1), v1: true },
  { label: 's.float32', factory: 'static.float32', make: (f) => f.static.float32(-2.5), v1: true },
  { label: 's.float64', factory: 'static.float64', make: (f) => f.static.float64(Math.PI), v1: true },
  { label: 's.int64', factory: 'static.int64', make: (f) => f.static.int64(2n ** 63n - 1n), v1: true },
  { label: 's.uint64', factory: 'static.uint64', make: (f) => f.static.uint64(() => 2n ** 64n - 2n), v1: true },
  { label: 's.bool', factory: 'static.bool', make: (f) => f.static.bool(false), v1: true },
  { label: 's.string', factory: 'static.string', make: (f) => f.static.string('v1.2.3 ✓', { size: 16 }), v1: true },
];

const WRITER_BODY = (format: 1 | 2) => `
const cases = [${CASES.filter((c) => format === 2 || c.v1)
  .map((c) => `{ label: ${JSON.stringify(c.label)}, make: ${c.make.toString()}, apply: ${c.apply ? c.apply.toString() : 'undefined'} }`)
  .join(',\n')}];
const stats = openStats({ name: 'PyAgree', path: env.DIR, format: ${format} });
for (const c of cases) {
  const x = stats.add(c.label, c.make(field));
  if (c.apply) c.apply(x);
}
const factories = [
  ...Object.keys(field).filter((k) => typeof field[k] === 'function'),
  ...Object.keys(field.static).map((k) => 'static.' + k),
];
ready({ path: stats.path, factories });
`;

for (const format of [2, 1] as const) {
  test(`the Python reader agrees with the TypeScript reader on every field type in a v${format} file`, { skip: NO_PYTHON }, async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER_BODY(format), { env: { DIR: dir } });
    try {
      const { path: file, factories } = (await w.ready) as { path: string; factories: string[] };
      // Every factory the library offers has a case here: a new field type must be added above.
      const covered = new Set(CASES.map((c) => c.factory));
      for (const name of factories) assert.ok(covered.has(name), `field.${name} has no case in this test`);

      const r = StatsReader.open(file);
      let ts: Snapshot;
      try {
        ts = r.read();
      } finally {
        r.close();
      }
      const py = await runPython([file]);
      assert.equal(py.stderr, '');
      assert.equal(py.code, 0);
      const [snap] = parseExact(py.stdout) as any[];
      sameSnapshot(snap, ts);
      assert.equal(snap.writer.alive, true, 'the writer runs: its lock says so');

      const labels = new Set(ts.fields.map((f) => f.family ?? f.label));
      for (const c of CASES.filter((x) => format === 2 || x.v1)) assert.ok(labels.has(c.label), `${c.label} is in the file`);
      if (format === 2) {
        // The file uses every data type and every kind FORMAT.md defines (a family shows as its children).
        const types = new Set(ts.fields.map((f) => (f.family ? 'family' : f.type)));
        const kinds = new Set(ts.fields.map((f) => f.kind));
        for (const name of Object.values(DATA_TYPE_NAMES)) assert.ok(types.has(name), `no field of data type ${name}`);
        ts.fields.forEach((t, i) => assert.deepEqual([snap.fields[i].family, snap.fields[i].labels], [t.family, t.labels], t.label));
        for (const name of Object.values(KIND_NAMES)) assert.ok(kinds.has(name), `no field of kind ${name}`);
      }
      // 64-bit extremes come through with every digit.
      const big = snap.fields.find((f: FieldValue) => f.label === 'c.uint64max');
      assert.equal(big.value, 2n ** 64n - 1n);
    } finally {
      await w.end();
    }
  });
}

test(
  'the Python reader and the TypeScript reader agree on a hand-built v1 file with decoys in the copies being written',
  { skip: NO_PYTHON },
  async () => {
    const dir = tempStatsDir();
    const file = path.join(dir, 'original.mmstats');
    fs.writeFileSync(
      file,
      v1File(
        [
          { label: 'sys.pid', type: 'I', writeBuffer: 0xff, values: [enc.u32(4242)] },
          { label: 'web.requests', type: 'Q', writeBuffer: 0, values: [enc.u64(999n), enc.u64(2n ** 64n - 1n)] },
          { label: 'web.latency', type: 'd', writeBuffer: 1, values: [enc.f64(0.125), enc.f64(-1)] },
          { label: 'web.short', type: 'h', writeBuffer: 0, values: [enc.i16(1), enc.i16(-32768)] },
          { label: 'web.long', type: 'l', writeBuffer: 0xff, values: [enc.i64(-(2n ** 62n))] },
          { label: 'web.path', type: '16s', writeBuffer: 0xff, values: [enc.str(Buffer.from([0x61, 0x80, 0x62, 0, 0x7a]), 16)] },
          { label: 'web.up', type: '?', writeBuffer: 0xff, values: [enc.bool(true)] },
        ],
        pageSize(),
      ),
    );
    const r = StatsReader.open(file);
    const ts = r.read();
    r.close();
    const py = await runPython([file]);
    assert.equal(py.code, 0, py.stderr);
    const [snap] = parseExact(py.stdout) as any[];
    sameSnapshot(snap, ts);
    assert.deepEqual(
      snap.fields.map((f: FieldValue) => f.value),
      [4242, 2n ** 64n - 1n, 0.125, -32768, -(2n ** 62n), 'ab', true],
    );
  },
);

/** Copies of a real v2 file with one thing broken each, and what the reader must say. */
function brokenFiles(dir: string, good: Buffer): { file: string; code: string; tsCode: string }[] {
  const dv = (b: Buffer) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const variants: { name: string; code: string; tsCode: string; make: () => Buffer }[] = [
    { name: 'foreign', code: 'not-stats', tsCode: 'ERR_MMSTATS_NOT_STATS', make: () => Buffer.from('#!/bin/sh\necho not stats\n') },
    { name: 'zeros', code: 'initialising', tsCode: 'ERR_MMSTATS_INITIALISING', make: () => Buffer.alloc(4096) },
    { name: 'empty', code: 'initialising', tsCode: 'ERR_MMSTATS_INITIALISING', make: () => Buffer.alloc(0) },
    { name: 'short', code: 'malformed', tsCode: 'ERR_MMSTATS_MALFORMED', make: () => good.subarray(0, 100) },
    // Cut inside the heap: the header counts records the file no longer holds.
    { name: 'cut', code: 'malformed', tsCode: 'ERR_MMSTATS_MALFORMED', make: () => good.subarray(0, Header.SIZE + 60) },
    {
      name: 'newer',
      code: 'version',
      tsCode: 'ERR_MMSTATS_VERSION',
      make: () => {
        const b = Buffer.from(good);
        dv(b).setUint16(Header.VERSION_MAJOR, 3, true);
        return b;
      },
    },
    {
      name: 'bigendian',
      code: 'unsupported',
      tsCode: 'ERR_MMSTATS_UNSUPPORTED',
      make: () => {
        const b = Buffer.from(good);
        dv(b).setUint32(Header.BYTE_ORDER, 0x01020304, false);
        return b;
      },
    },
    {
      name: 'initialising',
      code: 'initialising',
      tsCode: 'ERR_MMSTATS_INITIALISING',
      make: () => {
        const b = Buffer.from(good);
        dv(b).setUint32(Header.STATE, 0, true);
        return b;
      },
    },
    {
      name: 'loop',
      code: 'malformed',
      tsCode: 'ERR_MMSTATS_MALFORMED',
      make: () => {
        const b = Buffer.from(good);
        const first = dv(b).getUint32(Header.FIRST_RECORD, true);
        dv(b).setUint32(first + Rec.NEXT, first, true); // a cycle
        return b;
      },
    },
    {
      name: 'farrecord',
      code: 'malformed',
      tsCode: 'ERR_MMSTATS_MALFORMED',
      make: () => {
        const b = Buffer.from(good);
        dv(b).setUint32(Header.FIRST_RECORD, 0xfffffff0, true);
        return b;
      },
    },
    {
      name: 'hugerecord',
      code: 'malformed',
      tsCode: 'ERR_MMSTATS_MALFORMED',
      make: () => {
        const b = Buffer.from(good);
        dv(b).setUint32(dv(b).getUint32(Header.FIRST_RECORD, true) + Rec.SIZE, 0xfffffff0, true);
        return b;
      },
    },
    {
      name: 'farvalue',
      code: 'malformed',
      tsCode: 'ERR_MMSTATS_MALFORMED',
      make: () => {
        const b = Buffer.from(good);
        dv(b).setUint32(dv(b).getUint32(Header.FIRST_RECORD, true) + Rec.VALUE_OFFSET, 0x7ffffff0, true);
        return b;
      },
    },
    {
      name: 'badlabel',
      code: 'malformed',
      tsCode: 'ERR_MMSTATS_MALFORMED',
      make: () => {
        const b = Buffer.from(good);
        const first = dv(b).getUint32(Header.FIRST_RECORD, true);
        const labelAt = first + Rec.PARTS + dv(b).getUint16(first + Rec.PART_COUNT, true) * Rec.PART_SIZE;
        b[labelAt] = 0xff; // not UTF-8
        return b;
      },
    },
    {
      name: 'manyfields',
      code: 'malformed',
      tsCode: 'ERR_MMSTATS_MALFORMED',
      make: () => {
        const b = Buffer.from(good);
        dv(b).setUint32(Header.FIELD_COUNT, 0xffffffff, true);
        return b;
      },
    },
    {
      name: 'v1unknowntype',
      code: 'malformed',
      tsCode: 'ERR_MMSTATS_MALFORMED',
      make: () => v1File([{ label: 'x', type: 'Z', writeBuffer: 0xff, values: [Buffer.alloc(8)] }], 4096),
    },
    {
      name: 'v1cut',
      code: 'malformed',
      tsCode: 'ERR_MMSTATS_MALFORMED',
      make: () => Buffer.concat([Buffer.from([1]), enc.u16(200), Buffer.from('label cut short')]),
    },
  ];
  return variants.map((v) => {
    const file = path.join(dir, `${v.name}.mmstats`);
    fs.writeFileSync(file, v.make(), { mode: 0o600 });
    return { file, code: v.code, tsCode: v.tsCode };
  });
}

test(
  'the Python reader reports each broken file on stderr, exits 1 and still prints the good ones, where the TypeScript reader also refuses',
  { skip: NO_PYTHON },
  async () => {
    const dir = tempStatsDir();
    const w = runScript(
      `const s = openStats({ name: 'Good', path: env.DIR, defaultFields: false });
     s.add('a.counter', field.counter()).incr(3);
     s.add('a.text', field.string({ size: 8 })).set('ok');
     ready(s.path);`,
      { env: { DIR: dir } },
    );
    try {
      const good = (await w.ready) as string;
      const broken = brokenFiles(dir, fs.readFileSync(good));
      for (const b of broken) {
        assert.throws(
          () => {
            const r = StatsReader.open(b.file);
            try {
              r.read();
            } finally {
              r.close();
            }
          },
          (err: unknown) => err instanceof MmstatsError && err.code === b.tsCode,
          `the TypeScript reader refuses ${path.basename(b.file)} with ${b.tsCode}`,
        );
      }
      const py = await runPython([broken[0]!.file, good, ...broken.slice(1).map((b) => b.file)]);
      assert.equal(py.code, 1);
      assert.doesNotMatch(py.stderr, /Traceback/);
      const printed = parseExact(py.stdout) as any[];
      assert.deepEqual(
        printed.map((s) => s.path),
        [good],
      );
      assert.deepEqual(
        printed[0].fields.map((f: FieldValue) => [f.label, f.value]),
        [
          ['a.counter', 3],
          ['a.text', 'ok'],
        ],
      );
      const lines = py.stderr.trim().split('\n');
      assert.equal(lines.length, broken.length, py.stderr);
      for (const b of broken) {
        const line = lines.find((l) => l.includes(`${b.file}:`));
        assert.ok(line, `${b.file} is reported`);
        assert.ok(line.endsWith(`[${b.code}]`), `${line} should end with [${b.code}]`);
      }
    } finally {
      await w.end();
    }
  },
);

test('the Python reader never returns a mixed compound or string while a writer updates them', { skip: NO_PYTHON }, async () => {
  const dir = tempStatsDir();
  const stop = path.join(dir, 'stop');
  const w = runScript(
    `const s = openStats({ name: 'Hot', path: env.DIR, defaultFields: false });
     const pair = s.add('hot.pair', field.compound(['up', 'down']));
     const text = s.add('hot.text', field.string({ size: 4000 }));
     const fs = await import('node:fs');
     on('spin', (ms) => {
       // Bursts of back-to-back updates (100 µs) and pauses (100 µs): a reader that
       // skipped the sequence check would copy mid-write in the bursts; one that
       // follows it gets a value in the pauses.
       const end = performance.now() + ms;
       let i = 0;
       while (performance.now() < end && !fs.existsSync(env.STOP)) {
         for (let n = 0; n < 1000; n++) {
           const burst = performance.now() + 0.1;
           while (performance.now() < burst) {
             i++;
             pair.set({ up: i, down: -i });
             text.set(String(i % 100000000).padStart(8, '0').repeat(500));
           }
           const pause = performance.now() + 0.1;
           while (performance.now() < pause);
         }
       }
     });
     ready(s.path);`,
    { env: { DIR: dir, STOP: stop } },
  );
  try {
    const file = (await w.ready) as string;
    const spinning = w.call('spin', 60_000);
    const r = StatsReader.open(file);
    await waitFor(() => (r.read().fields[0]!.value as Record<string, number>).up > 0, 10_000, 'the writer to start');
    r.close();
    // Rounds of 300 reads until the values have moved under them: on a busy machine the
    // writer may get no CPU during one whole round, which proves nothing either way.
    const perRound = 300;
    let reads = 0;
    let busy = 0;
    const seen = new Set<number>();
    for (let round = 0; round < 10 && seen.size < 2; round++) {
      const py = await runPython(Array.from({ length: perRound }, () => file));
      assert.equal(py.code, 0, py.stderr);
      const snaps = parseExact(py.stdout) as any[];
      assert.equal(snaps.length, perRound);
      reads += perRound;
      for (const s of snaps) {
        const [pair, text] = s.fields;
        if (pair.value === null || text.value === null) {
          busy++;
          continue;
        }
        assert.equal(pair.value.down, -pair.value.up, `a mixed compound: ${JSON.stringify(pair.value)}`);
        assert.match(text.value, /^(\d{8})\1{499}$/, 'a mixed string');
        seen.add(pair.value.up);
      }
    }
    fs.writeFileSync(stop, '');
    await spinning;
    assert.ok(seen.size > 1, 'the values moved while they were read');
    assert.ok(busy < reads / 2, `${busy} of ${reads} reads gave up`);
  } finally {
    fs.writeFileSync(stop, '');
    await w.end();
  }
});

test('the Python reader sees a writer alive while it holds its lock and dead once it is killed', { skip: NO_PYTHON }, async () => {
  const dir = tempStatsDir();
  const w = runScript(`const s = openStats({ name: 'Life', path: env.DIR }); ready(s.path);`, { env: { DIR: dir } });
  const file = (await w.ready) as string;
  const alive = parseExact((await runPython([file])).stdout) as any[];
  assert.equal(alive[0].writer.alive, true);
  assert.equal(alive[0].writer.pid, w.pid);
  w.child.kill('SIGKILL');
  await w.exited;
  // SIGKILL runs no exit hook: the file stays, and only the released lock tells.
  const dead = await runPython([file]);
  assert.equal(dead.code, 0, dead.stderr);
  const [snap] = parseExact(dead.stdout) as any[];
  assert.equal(snap.writer.alive, false);
  assert.equal(snap.writer.state, 'ready');
  const r = StatsReader.open(file);
  assert.equal(r.writer().alive, false);
  r.close();
});

test(
  'the Python reader reads labelled families as the TypeScript reader does, and never a value under another label set',
  { skip: NO_PYTHON },
  async () => {
    const dir = tempStatsDir();
    const w = runScript(
      `
    const M = defineModel('PyFam', {
      requests: field.counter({ help: 'requests', labels: ['method', 'status'] }),
      lat: field.timer({ buckets: [0.1, 1], moving: 3, labels: ['route'] }),
      name: field.string({ size: 8, labels: ['k'] }),
      big: field.uint64({ labels: ['k'], maxSeries: 2 }),
      parts: field.compound(['a', 'b'], { labels: ['k'] }),
      code: field.gauge({ labels: ['a', 'b'] }),
      up: field.gauge(),
    });
    const s = M.open({ path: env.DIR, defaultFields: false });
    s.requests.with('GET', 200).incr(3);
    s.requests.with('quote"d\\\\', 'new\\nline').incr(1);
    s.lat.with('/a').record(0.5);
    s.name.with('x').set('héllo');
    for (const k of ['a', 'b', 'c', 'd']) s.big.with(k).set(2n ** 63n + 1n);
    s.parts.with('p').set({ a: 1, b: -2 });
    s.up.set(1);
    // Each child's value is a function of its labels: a value under another label set shows.
    const code = (a, b) => a * 1000 + b;
    let round = 0;
    let timer;
    on('churn', () => {
      timer = setInterval(() => {
        for (let i = 0; i < 20; i++) {
          const a = (round + i) % 7, b = (round * 3 + i) % 11;
          s.code.with(a, b).set(code(a, b));
          if (i % 3 === 0) s.code.remove((a + 2) % 7, (b + 5) % 11);
        }
        round++;
      }, 1);
    });
    on('stop', () => clearInterval(timer));
    ready(s.path);
  `,
      { env: { DIR: dir } },
    );
    try {
      const file = await w.ready;
      const r = StatsReader.open(file);
      const ts = r.read();
      const py = await runPython([file]);
      assert.equal(py.code, 0, py.stderr);
      const [snap] = parseExact(py.stdout) as any[];
      sameSnapshot(snap, ts);
      ts.fields.forEach((t, i) => {
        assert.equal(snap.fields[i].family, t.family, `family of ${t.label}`);
        assert.deepEqual(snap.fields[i].labels, t.labels, `labels of ${t.label}`);
      });
      assert.ok(ts.fields.some((f) => f.label === 'requests{method="quote\\"d\\\\",status="new\\nline"}'));
      assert.ok(ts.fields.some((f) => f.label === 'big{otel_metric_overflow="true"}'));

      await w.call('churn');
      let children = 0;
      for (let run = 0; run < 5; run++) {
        const out = await runPython([file]);
        assert.equal(out.code, 0, out.stderr);
        for (const f of (parseExact(out.stdout) as any[])[0].fields) {
          if (f.family !== 'code') continue;
          children++;
          assert.equal(f.value, Number(f.labels.a) * 1000 + Number(f.labels.b), `${f.label} holds another label set's value`);
        }
      }
      assert.ok(children > 0);
      await w.call('stop');
      r.close();
    } finally {
      await w.end();
    }
  },
);

test('the Python reader reports a damaged family slot as the TypeScript reader does, and reads the rest', { skip: NO_PYTHON }, async () => {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'PyBadFam', path: dir, defaultFields: false });
  stats.add('before', field.gauge()).set(1);
  const fam = stats.add('fam', field.counter({ labels: ['a'] }));
  fam.with('x').incr(5);
  fam.with('y').incr(6);
  stats.add('after', field.gauge()).set(2);
  const bytes = fs.readFileSync(stats.path);
  stats.remove();
  // The slot of child x: state 1, one label value of length 1, "x".
  let slot = -1;
  for (let i = 0; i + 16 < bytes.length && slot < 0; i += 8) {
    if (bytes.readUInt32LE(i + 4) === 1 && bytes.readUInt16LE(i + 8) === 1 && bytes[i + 10] === 0x78) slot = i;
  }
  assert.ok(slot > 0);
  bytes.writeUInt16LE(900, slot + 8);
  const file = path.join(dir, 'damaged.mmstats');
  fs.writeFileSync(file, bytes);
  const r = StatsReader.open(file);
  const ts = r.read();
  r.close();
  const py = await runPython([file]);
  assert.equal(py.code, 0, py.stderr);
  const [snap] = parseExact(py.stdout) as any[];
  for (const fields of [snap.fields as FieldValue[], ts.fields]) {
    const by = new Map(fields.map((f) => [f.label, f]));
    assert.equal(by.get('before')!.value, 1);
    assert.equal(by.get('after')!.value, 2);
    assert.equal(by.get('fam{a="y"}')!.value, 6);
    assert.ok(!by.has('fam{a="x"}'));
    const err = fields.find((f) => f.family === 'fam' && !f.labels)!;
    assert.match(err.error!, /^ERR_MMSTATS_MALFORMED: family fam: slot at \d+: label value 0 of 900 bytes/);
  }
});

test(
  'the Python reader calls a file whose writer died creating it abandoned, as the TypeScript reader does, and exits 0 for it',
  { skip: NO_PYTHON },
  async () => {
    const dir = tempStatsDir();
    const w = runScript(`const s = openStats({ name: 'Dying', path: env.DIR }); s.add('n', field.counter()); ready(s.path);`, {
      env: { DIR: dir },
    });
    const made = (await w.ready) as string;
    w.child.kill('SIGKILL');
    await w.exited;
    // Its header as it was before the ready mark: the writer (now dead) never finished it.
    const bytes = fs.readFileSync(made);
    bytes.writeUInt32LE(0, Header.STATE);
    const file = path.join(dir, 'unfinished.mmstats');
    fs.writeFileSync(file, bytes, { mode: 0o600 });
    assert.throws(
      () => StatsReader.open(file),
      (err: unknown) => err instanceof MmstatsError && err.code === 'ERR_MMSTATS_ABANDONED',
    );
    const py = await runPython([file]);
    assert.equal(py.code, 0, py.stderr);
    assert.match(
      py.stderr,
      new RegExp(`${file}: was never finished: its writer \\(pid ${w.pid}\\) died while creating it \\[abandoned\\]`),
    );
  },
);

test("percentiles computed from FORMAT.md §2.4 by the Python reader equal slurp's to the last bit", { skip: NO_PYTHON }, async () => {
  const dir = tempStatsDir();
  const w = runScript(
    `
const stats = openStats({ name: 'Pct', path: env.DIR });
const logLinear = stats.add('h.loglinear', field.histogram());
const explicit = stats.add('h.explicit', field.histogram({ buckets: [0.001, 0.01, 0.1, 1] }));
const timer = stats.add('h.timer', field.timer());
const one = stats.add('h.one', field.histogram({ buckets: [10] }));
stats.add('h.empty', field.histogram());
// A fixed pseudo-random sequence (the same every run): log-normal values over several decades.
let seed = 42;
const next = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
for (let i = 0; i < 20000; i++) {
  const v = Math.exp((next() - 0.5) * 12) / 100;
  logLinear.record(v);
  explicit.record(v);
  timer.record(v);
}
one.record(3);
one.record(7);
ready(stats.path);
`,
    { env: { DIR: dir } },
  );
  try {
    const file: string = await w.ready;
    const qs = '0,1,10,25,50,75,90,99,99.9,99.99,100';
    const slurp = await runCli(['slurp', '--json', '--percentiles', qs, file]);
    assert.equal(slurp.code, 0, slurp.stderr);
    const py = spawnSync('python3', [READER, '--compact', '--percentiles', qs, file], { encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    const ours = (JSON.parse(slurp.stdout) as { files: { fields: { label: string; value: any }[] }[] }).files[0]!.fields;
    const theirs = (JSON.parse(py.stdout) as { fields: { label: string; value: any }[] }[])[0]!.fields;
    let compared = 0;
    for (const label of ['h.loglinear', 'h.explicit', 'h.timer', 'h.one', 'h.empty']) {
      const a = ours.find((f) => f.label === label)!.value.percentiles as Record<string, number | null>;
      const b = theirs.find((f) => f.label === label)!.value.percentiles as Record<string, number | string>;
      assert.deepEqual(Object.keys(b), Object.keys(a), label);
      for (const [name, mine] of Object.entries(a)) {
        const other = b[name]!;
        // slurp shows an undefined percentile (an empty histogram) as null, Python's JSON as "NaN".
        if (mine === null) assert.equal(other, 'NaN', `${label} ${name}`);
        else assert.equal(other, mine, `${label} ${name}: Python ${other}, slurp ${mine}`);
        compared++;
      }
    }
    assert.equal(compared, 55);
    const one = ours.find((f) => f.label === 'h.one')!.value.percentiles as Record<string, number>;
    // Clamped to min and max inside the one bucket: 3 + (7 - 3) * 0.5 * 2 / 2.
    assert.equal(one.p50, 5);
    assert.equal(one.p0, 3);
    assert.equal(one.p100, 7);
  } finally {
    await w.end();
  }
});

test(
  'the Python reader also reads by data type whatever the SEQLOCK flag says, and skips an unknown type (FORMAT.md §3.1)',
  { skip: NO_PYTHON },
  async () => {
    const dir = tempStatsDir();
    const stats = openStats({ name: 'Flags', path: dir, defaultFields: false });
    stats.add('a', field.uint32()).set(7);
    stats.add('b', field.int32()).set(-3);
    stats.add('s', field.string({ size: 16 })).set('fine');
    const bytes = fs.readFileSync(stats.path);
    stats.remove();
    const recordAt = (n: number) => {
      let at = bytes.readUInt32LE(Header.FIRST_RECORD);
      for (let i = 0; i < n; i++) at = bytes.readUInt32LE(at + Rec.NEXT);
      return at;
    };
    bytes.writeUInt16LE(RecordFlags.SEQLOCK, recordAt(0) + Rec.FLAGS);
    bytes.writeUInt16LE(0, recordAt(2) + Rec.FLAGS);
    bytes.writeUInt16LE(999, recordAt(1) + Rec.DATA_TYPE);
    bytes.writeUInt16LE(RecordFlags.SEQLOCK, recordAt(1) + Rec.FLAGS);
    const file = path.join(dir, 'flags.mmstats');
    fs.writeFileSync(file, bytes, { mode: 0o600 });
    const py = await runPython([file]);
    assert.equal(py.code, 0, py.stderr);
    const fields = (JSON.parse(py.stdout) as { fields: { label: string; value: unknown }[] }[])[0]!.fields;
    assert.deepEqual(
      fields.map((f) => [f.label, f.value]),
      [
        ['a', 7],
        ['b', null],
        ['s', 'fine'],
      ],
    );
  },
);
