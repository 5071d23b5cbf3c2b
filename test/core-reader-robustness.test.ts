/**
 * The reader against files it cannot trust: truncated or deleted under it,
 * foreign, newer, half-made, corrupted, unknown types, FIFOs. It throws only
 * typed errors, never hangs, and the process always survives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { field, openStats, readAll, StatsReader, MmstatsError, type MmstatsErrorCode } from '../src/index.js';
import { Header, Record as Rec, RecordFlags } from '../src/format/v2.js';
import { runScript, tempStatsDir } from './helpers/proc.js';
import { enc, v1File } from './fixtures/v1/builder.js';

function code(expected: MmstatsErrorCode, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof MmstatsError, `expected an MmstatsError, got ${String((err as Error)?.stack ?? err)}`);
    assert.equal(err.code, expected, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

const WRITER = `
const stats = openStats({ name: 'Victim', path: env.DIR, format: Number(env.FORMAT ?? 2) });
const c = stats.add('c', field.counter());
const s = stats.add('s', field.string({ size: 64 }));
c.incr(5);
s.set('hello');
on('incr', () => { c.incr(); return c.value; });
ready(stats.path);
`;

for (const format of [2, 1] as const) {
  test(`format ${format}: a file truncated by another process makes read() throw ERR_MMSTATS_TRUNCATED, and the reader lives on`, async () => {
    const dir = tempStatsDir();
    const w = runScript(WRITER, { env: { DIR: dir, FORMAT: String(format) } });
    const cutter = runScript(`on('truncate', (file, size) => { import('node:fs').then((fs) => fs.truncateSync(file, size)); }); ready();`);
    try {
      const file: string = await w.ready;
      await cutter.ready;
      for (const size of [4096, 0]) {
        const r = StatsReader.open(file);
        try {
          assert.equal(r.read().fields.find((f) => f.label === 'c')?.value, 5);
          await cutter.call('truncate', file, size);
          await waitForSize(file, size);
          assert.throws(() => r.read(), code('ERR_MMSTATS_TRUNCATED', /shrank/));
          assert.throws(() => r.read(), code('ERR_MMSTATS_TRUNCATED'), 'and again: the reader stays usable');
          r.writer(); // reading the header of a truncated file does not crash
        } finally {
          r.close();
        }
      }
    } finally {
      await cutter.end();
      w.child.kill('SIGKILL');
    }
  });
}

async function waitForSize(file: string, size: number): Promise<void> {
  for (let i = 0; i < 500 && fs.statSync(file).size !== size; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(fs.statSync(file).size, size);
}

test('a deleted file stays readable through an open reader, and shows later updates', async () => {
  const dir = tempStatsDir();
  const w = runScript(WRITER, { env: { DIR: dir } });
  try {
    const file: string = await w.ready;
    const r = StatsReader.open(file);
    try {
      fs.unlinkSync(file);
      assert.equal(await w.call('incr'), 6);
      const snap = r.read();
      assert.equal(snap.fields.find((f) => f.label === 'c')?.value, 6);
      assert.equal(snap.fields.find((f) => f.label === 's')?.value, 'hello');
      assert.equal(snap.writer.alive, true);
    } finally {
      r.close();
    }
  } finally {
    await w.end();
  }
});

/** A copy of a real v2 file made by a writer, to corrupt. */
function realV2File(): { dir: string; bytes: Buffer } {
  const dir = tempStatsDir();
  const stats = openStats({ name: 'Real', path: dir, defaultFields: false });
  const a = stats.add('a', field.uint32());
  const b = stats.add('b', field.int32());
  const s = stats.add('s', field.string({ size: 16 }));
  a.set(7);
  b.set(-3);
  s.set('fine');
  const bytes = fs.readFileSync(stats.path);
  stats.remove();
  return { dir, bytes };
}

function write(dir: string, name: string, bytes: Buffer | string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes, { mode: 0o600 });
  return file;
}

function openAndRead(file: string) {
  const r = StatsReader.open(file);
  try {
    return r.read();
  } finally {
    r.close();
  }
}

/** Offset of the n-th record (0-based) of a v2 file. */
function recordAt(bytes: Buffer, n: number): number {
  let at = bytes.readUInt32LE(Header.FIRST_RECORD);
  for (let i = 0; i < n; i++) at = bytes.readUInt32LE(at + Rec.NEXT);
  return at;
}

test('the untouched copy of a real file reads, as a control for the corruptions below', () => {
  const { dir, bytes } = realV2File();
  const snap = openAndRead(write(dir, 'control.mmstats', bytes));
  assert.deepEqual(
    snap.fields.map((f) => [f.label, f.value]),
    [
      ['a', 7],
      ['b', -3],
      ['s', 'fine'],
    ],
  );
});

test('a foreign file gives ERR_MMSTATS_NOT_STATS', () => {
  const dir = tempStatsDir();
  assert.throws(() => openAndRead(write(dir, 'text.mmstats', 'hello, I am a text file\n')), code('ERR_MMSTATS_NOT_STATS'));
  assert.throws(
    () => openAndRead(write(dir, 'elf.mmstats', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]))),
    code('ERR_MMSTATS_NOT_STATS'),
  );
});

test('a newer major version gives ERR_MMSTATS_VERSION with a message saying what to do', () => {
  const { dir, bytes } = realV2File();
  bytes.writeUInt16LE(3, Header.VERSION_MAJOR);
  assert.throws(
    () => openAndRead(write(dir, 'v3.mmstats', bytes)),
    code('ERR_MMSTATS_VERSION', /format 3, newer than this reader \(2\); upgrade/),
  );
});

test('a newer minor version is read (minor versions only add)', () => {
  const { dir, bytes } = realV2File();
  bytes.writeUInt16LE(9, Header.VERSION_MINOR);
  assert.equal(openAndRead(write(dir, 'minor.mmstats', bytes)).fields.length, 3);
});

test('a file whose header state is 0, or which is empty or all zeros, is ERR_MMSTATS_INITIALISING', () => {
  const { dir, bytes } = realV2File();
  bytes.writeUInt32LE(0, Header.STATE);
  assert.throws(() => openAndRead(write(dir, 'init.mmstats', bytes)), code('ERR_MMSTATS_INITIALISING'));
  assert.throws(() => openAndRead(write(dir, 'empty.mmstats', Buffer.alloc(0))), code('ERR_MMSTATS_INITIALISING'));
  assert.throws(() => openAndRead(write(dir, 'zeros.mmstats', Buffer.alloc(16384))), code('ERR_MMSTATS_INITIALISING'));
});

test('a file with the magic but shorter than a header, or a bad byte-order mark, is ERR_MMSTATS_MALFORMED', () => {
  const { dir, bytes } = realV2File();
  assert.throws(() => openAndRead(write(dir, 'short.mmstats', bytes.subarray(0, 40))), code('ERR_MMSTATS_MALFORMED'));
  const bom = Buffer.from(bytes);
  bom.writeUInt32LE(0xdeadbeef, Header.BYTE_ORDER);
  assert.throws(() => openAndRead(write(dir, 'bom.mmstats', bom)), code('ERR_MMSTATS_MALFORMED', /byte-order mark/));
  const swapped = Buffer.from(bytes);
  swapped.writeUInt32BE(0x01020304, Header.BYTE_ORDER);
  assert.throws(() => openAndRead(write(dir, 'be.mmstats', swapped)), code('ERR_MMSTATS_UNSUPPORTED', /big-endian/));
});

test('records whose offsets point out of bounds give ERR_MMSTATS_MALFORMED', () => {
  const { dir, bytes } = realV2File();
  const corruptions: [string, (b: Buffer) => void][] = [
    ['value offset past the end', (b) => b.writeUInt32LE(0xffff_ff00, recordAt(b, 1) + Rec.VALUE_OFFSET)],
    ['value size past the end', (b) => b.writeUInt32LE(0x7fff_ffff, recordAt(b, 2) + Rec.VALUE_SIZE)],
    ['first record past the end', (b) => b.writeUInt32LE(b.length + 64, Header.FIRST_RECORD)],
    ['first record inside the header', (b) => b.writeUInt32LE(8, Header.FIRST_RECORD)],
    ['record size past the end', (b) => b.writeUInt32LE(0xffff_fff0, recordAt(b, 0) + Rec.SIZE)],
    ['label longer than its record', (b) => b.writeUInt16LE(60000, recordAt(b, 0) + Rec.LABEL_LEN)],
    ['a link backwards (a cycle)', (b) => b.writeUInt32LE(recordAt(b, 0), recordAt(b, 1) + Rec.NEXT)],
    ['a link to the middle of nowhere', (b) => b.writeUInt32LE(0xffff_fff8, recordAt(b, 0) + Rec.NEXT)],
    ['an absurd field count', (b) => b.writeUInt32LE(0xffff_ffff, Header.FIELD_COUNT)],
    ['a field count beyond the records', (b) => b.writeUInt32LE(4, Header.FIELD_COUNT)],
    ['a label that is not UTF-8', (b) => b.writeUInt8(0xff, recordAt(b, 0) + Rec.PARTS)],
  ];
  for (const [what, corrupt] of corruptions) {
    const copy = Buffer.from(bytes);
    corrupt(copy);
    const file = write(dir, 'bad.mmstats', copy);
    assert.throws(() => openAndRead(file), code('ERR_MMSTATS_MALFORMED'), what);
  }
});

test('an unknown data type or kind in a record is shown without a value, and the other fields still read', () => {
  const { dir, bytes } = realV2File();
  // Field a holds 7, an odd number: not to be mistaken for a seqlock being written.
  bytes.writeUInt16LE(999, recordAt(bytes, 0) + Rec.DATA_TYPE);
  bytes.writeUInt16LE(777, recordAt(bytes, 1) + Rec.KIND);
  const started = Date.now();
  const snap = openAndRead(write(dir, 'unknown.mmstats', bytes));
  const [a, b, s] = snap.fields;
  assert.equal(a!.label, 'a');
  assert.equal(a!.type, 'unknown(999)');
  assert.equal(a!.value, null);
  assert.match(a!.error ?? '', /unknown data type 999/);
  assert.equal(b!.kind, 'untyped');
  assert.equal(b!.value, -3);
  assert.equal(s!.value, 'fine');
  assert.ok(Date.now() - started < 2000, 'no retry loop over an unknown value');
});

test('the data type decides how a value is read, whatever the SEQLOCK flag says (FORMAT.md §3.1)', () => {
  const { dir, bytes } = realV2File();
  bytes.writeUInt16LE(RecordFlags.SEQLOCK, recordAt(bytes, 0) + Rec.FLAGS); // a scalar flagged as seqlocked
  bytes.writeUInt16LE(0, recordAt(bytes, 2) + Rec.FLAGS); // a string without the flag
  const snap = openAndRead(write(dir, 'flags.mmstats', bytes));
  assert.deepEqual(
    snap.fields.map((f) => [f.label, f.value, f.error]),
    [
      ['a', 7, undefined],
      ['b', -3, undefined],
      ['s', 'fine', undefined],
    ],
  );
  // An unknown data type flagged as seqlocked is still skipped, its bytes unread.
  bytes.writeUInt16LE(999, recordAt(bytes, 1) + Rec.DATA_TYPE);
  bytes.writeUInt16LE(RecordFlags.SEQLOCK, recordAt(bytes, 1) + Rec.FLAGS);
  const unknown = openAndRead(write(dir, 'flags-unknown.mmstats', bytes));
  assert.deepEqual(
    unknown.fields.map((f) => [f.label, f.value]),
    [
      ['a', 7],
      ['b', null],
      ['s', 'fine'],
    ],
  );
  assert.match(unknown.fields[1]!.error ?? '', /unknown data type 999/);
});

test('a string record whose value block is misaligned is shown without a value, not read through a torn seqlock', () => {
  const { dir, bytes } = realV2File();
  const rec = recordAt(bytes, 2);
  bytes.writeUInt32LE(bytes.readUInt32LE(rec + Rec.VALUE_OFFSET) + 2, rec + Rec.VALUE_OFFSET);
  const snap = openAndRead(write(dir, 'misaligned.mmstats', bytes));
  assert.equal(snap.fields[2]!.value, null);
  assert.match(snap.fields[2]!.error ?? '', /8-aligned/);
  assert.equal(snap.fields[0]!.value, 7);
});

test('a v1 file with a field cut off by the end of the file, or a bad write-buffer byte, is ERR_MMSTATS_MALFORMED', () => {
  const dir = tempStatsDir();
  const good = v1File([{ label: 'apples', type: 'I', writeBuffer: 0, values: [enc.u32(1), enc.u32(2)] }], 4096);
  assert.throws(() => openAndRead(write(dir, 'cut.mmstats', good.subarray(0, 1 + 2 + 6 + 2 + 1 + 1 + 5))), code('ERR_MMSTATS_MALFORMED'));
  const badWb = Buffer.from(good);
  badWb[1 + 2 + 6 + 2 + 1] = 7;
  assert.throws(() => openAndRead(write(dir, 'wb.mmstats', badWb)), code('ERR_MMSTATS_MALFORMED', /write buffer/));
  const unknown = v1File([{ label: 'x', type: 'Z', writeBuffer: 0xff, values: [Buffer.alloc(4)] }], 4096);
  assert.throws(() => openAndRead(write(dir, 'z.mmstats', unknown)), code('ERR_MMSTATS_MALFORMED', /unknown type/));
});

test('a symbolic link given to the reader is not followed', () => {
  const { dir, bytes } = realV2File();
  const real = write(dir, 'real.mmstats', bytes);
  fs.symlinkSync(real, path.join(dir, 'link.mmstats'));
  assert.throws(() => openAndRead(path.join(dir, 'link.mmstats')), code('ERR_MMSTATS_UNSAFE_PATH', /symbolic link/));
  assert.throws(() => openAndRead(path.join(dir, 'missing.mmstats')), code('ERR_MMSTATS_IO', /ENOENT/));
});

test('random corruption of real files (both formats) gives typed errors or values, never a crash or a foreign exception', () => {
  const dir = tempStatsDir();
  const sources: Buffer[] = [];
  for (const format of [2, 1] as const) {
    const stats = openStats({ name: `Fuzz${format}`, path: dir, format });
    stats.add('n', field.uint32()).set(1);
    stats.add('s', field.string({ size: 40 })).set('text');
    if (format === 2) stats.add('cmp', field.compound(['x', 'y'])).set({ x: 1, y: 2 });
    sources.push(fs.readFileSync(stats.path));
    stats.remove();
  }
  // A small deterministic generator: the same corruptions on every run.
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  const file = path.join(dir, 'fuzz.mmstats');
  let typed = 0;
  let readable = 0;
  for (let i = 0; i < 400; i++) {
    const copy = Buffer.from(sources[i % 2]!);
    // Corrupt the part that holds structure: the header and the first records.
    const span = i % 2 === 0 ? 1200 : 700;
    for (let k = 0, n = 1 + rand(4); k < n; k++) copy[rand(span)] = rand(256);
    fs.writeFileSync(file, copy);
    try {
      openAndRead(file);
      readable++;
    } catch (err) {
      assert.ok(err instanceof MmstatsError, `corruption ${i}: ${String((err as Error)?.stack ?? err)}`);
      typed++;
    }
  }
  assert.ok(typed > 0 && readable > 0, `both outcomes seen (typed errors ${typed}, readable ${readable})`);
});

test('readAll reports each bad file with its error and still returns the good ones', async () => {
  const dir = tempStatsDir();
  const w = runScript(WRITER, { env: { DIR: dir } });
  try {
    const good: string = await w.ready;
    write(dir, 'foreign.mmstats', 'not stats at all');
    write(dir, 'empty.mmstats', Buffer.alloc(0));
    const { bytes } = realV2File();
    bytes.writeUInt16LE(7, Header.VERSION_MAJOR);
    write(dir, 'future.mmstats', bytes);
    const result = readAll([dir]);
    assert.deepEqual(
      result.snapshots.map((s) => s.path),
      [good],
    );
    assert.equal(result.snapshots[0]!.fields.find((f) => f.label === 'c')?.value, 5);
    const errors = Object.fromEntries(result.errors.map((e) => [path.basename(e.path), e.error.code]));
    assert.deepEqual(errors, {
      'empty.mmstats': 'ERR_MMSTATS_INITIALISING',
      'foreign.mmstats': 'ERR_MMSTATS_NOT_STATS',
      'future.mmstats': 'ERR_MMSTATS_VERSION',
    });
  } finally {
    await w.end();
  }
});

test('a FIFO named x.mmstats does not hang a reader in another process', async () => {
  const dir = tempStatsDir();
  const fifo = path.join(dir, 'x.mmstats');
  const r = spawnSync('mkfifo', [fifo]);
  if (r.error || r.status !== 0) throw new Error(`mkfifo failed (install coreutils): ${r.error?.message ?? r.stderr}`);
  write(dir, 'y.mmstats', 'foreign');
  const reader = runScript(`
on('open', (file) => { try { StatsReader.open(file); return 'opened'; } catch (err) { return err.code; } });
on('readAll', (dir) => mmstats.readAll([dir]).errors.map((e) => [e.path, e.error.code]));
ready();
`);
  const timeout = (what: string) =>
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} hung on a FIFO`)), 15_000).unref());
  try {
    await reader.ready;
    assert.equal(await Promise.race([reader.call('open', fifo), timeout('StatsReader.open')]), 'ERR_MMSTATS_UNSAFE_PATH');
    assert.deepEqual(await Promise.race([reader.call('readAll', dir), timeout('readAll')]), [
      [fifo, 'ERR_MMSTATS_UNSAFE_PATH'],
      [path.join(dir, 'y.mmstats'), 'ERR_MMSTATS_NOT_STATS'],
    ]);
  } finally {
    reader.child.kill('SIGKILL');
  }
});
