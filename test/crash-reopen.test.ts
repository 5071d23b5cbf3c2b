/**
 * A kept file (`keep: true`) whose writer is SIGKILLed inside a seqlocked write,
 * then reopened by a new writer: readers must never see a value that no writer
 * wrote. The kill is placed inside the write on purpose: the writer is stopped
 * (SIGSTOP) at a random moment, and killed only when its value's sequence is odd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StatsReader, type HistogramValue, type Snapshot, type Value } from '../src/reader/index.js';
import { Header, Record, Seqlocked, decodeRecord } from '../src/format/v2.js';
import { runScript, tempStatsDir, waitFor } from './helpers/proc.js';

const KINDS = ['string', 'compound', 'histogram', 'timer', 'average'] as const;
type Kind = (typeof KINDS)[number];

const LONG_A = 'A'.repeat(4000);
const SHORT_B = 'B'.repeat(2500);
const PARTS = 256;

/** One field of `env.KIND`, in a kept file; `spin` writes it flat out, alternating two values, until killed. */
const WRITER = `
const stats = openStats({ name: 'Torn', path: env.DIR, keep: true, filename: env.NAME });
const A = 'A'.repeat(4000), B = 'B'.repeat(2500);
const parts = Array.from({ length: ${PARTS} }, (_, i) => 'p' + i);
const f = {
  string: () => stats.add('v', field.string({ size: 4000 })),
  compound: () => stats.add('v', field.compound(parts)),
  histogram: () => stats.add('v', field.histogram({ buckets: [10] })),
  timer: () => stats.add('v', field.timer({ buckets: [10], moving: 0 })),
  average: () => stats.add('v', field.average()),
}[env.KIND]();
const write = {
  string: (i) => f.set(i & 1 ? A : B),
  compound: (i) => f.update((p) => { for (const n of parts) p[n] = i; }),
  histogram: (i) => f.record(i & 1 ? 1 : 1000),
  timer: (i) => f.record(i & 1 ? 1 : 1000),
  average: (i) => f.add(i & 1 ? 1 : 3),
}[env.KIND];
on('spin', () => { for (let i = 0; ; i++) write(i); });
ready(stats.path);
`;

/** Why `v` is not a value some writer of WRITER wrote, or undefined if it is one. */
function notWritten(kind: Kind, v: Value): string | undefined {
  if (v === null) return 'no value';
  switch (kind) {
    case 'string':
      return v === '' || v === LONG_A || v === SHORT_B ? undefined : `a string no writer wrote (${describeString(v as string)})`;
    case 'compound': {
      const parts = Object.values(v as Record<string, number>);
      return parts.length === PARTS && parts.every((p) => p === parts[0])
        ? undefined
        : `parts of several writes: ${new Set(parts).size} values`;
    }
    case 'histogram':
    case 'timer': {
      const h = v as HistogramValue;
      const [low, high] = h.buckets.map((b) => b.count) as [number, number];
      if (low + high !== h.count) return `buckets ${low} + ${high} != count ${h.count}`;
      if (h.sum !== low * 1 + high * 1000) return `sum ${h.sum} != ${low} x 1 + ${high} x 1000`;
      if (h.count > 0 && h.last !== 1 && h.last !== 1000) return `last ${h.last}`;
      return undefined;
    }
    case 'average': {
      const a = v as { count: number; sum: number; mean: number };
      if (a.count === 0) return a.sum === 0 && Number.isNaN(a.mean) ? undefined : `empty average with sum ${a.sum}, mean ${a.mean}`;
      return a.mean === a.sum / a.count ? undefined : `mean ${a.mean} != ${a.sum} / ${a.count}`;
    }
  }
}

function describeString(s: string): string {
  const runs: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j < s.length && s[j] === s[i]) j++;
    runs.push(`${j - i} x ${JSON.stringify(s[i])}`);
    i = j;
  }
  return runs.join(', ');
}

/** Offset of the value block of the field labelled `v`. */
function valueOffset(file: string): number {
  const bytes = fs.readFileSync(file);
  for (let at = bytes.readUInt32LE(Header.FIRST_RECORD); at !== 0; at = bytes.readUInt32LE(at + Record.NEXT)) {
    const meta = decodeRecord(bytes, at, bytes.length, true);
    if (meta.label === 'v') return meta.valueOffset;
  }
  throw new Error(`no field v in ${file}`);
}

function valueOf(snap: Snapshot): Value {
  const f = snap.fields.find((x) => x.label === 'v');
  assert.ok(f, 'the field v is in the file');
  return f.value;
}

function sequence(file: string, at: number): number {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(4);
    fs.readSync(fd, b, 0, 4, at + Seqlocked.SEQUENCE);
    return b.readUInt32LE(0);
  } finally {
    fs.closeSync(fd);
  }
}

/** The value as a reader would show it if the odd sequence were made even: what the killed write left. */
function leftBehind(file: string, at: number): Value {
  const copy = path.join(path.dirname(file), 'left-behind.mmstats');
  const bytes = fs.readFileSync(file);
  bytes.writeUInt32LE((bytes.readUInt32LE(at + Seqlocked.SEQUENCE) + 1) & ~1, at + Seqlocked.SEQUENCE);
  fs.writeFileSync(copy, bytes, { mode: 0o600 });
  try {
    const r = StatsReader.open(copy);
    try {
      return valueOf(r.read());
    } finally {
      r.close();
    }
  } finally {
    fs.rmSync(copy);
  }
}

function stopped(pid: number): boolean {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One round: a writer spins on its field, is killed inside a write, and a new
 * writer reopens the file. Returns whether the kill left a torn payload, and what
 * a reader saw after the reopen if it was not a value some writer wrote.
 */
async function round(kind: Kind, dir: string): Promise<{ torn: boolean; bad?: string }> {
  const env = { DIR: dir, NAME: `${kind}.mmstats`, KIND: kind };
  const w = runScript(WRITER, { env });
  const file = (await w.ready) as string;
  const at = valueOffset(file);
  void w.call('spin').catch(() => undefined);
  await sleep(20);
  for (let attempt = 0; ; attempt++) {
    assert.ok(attempt < 2000, `${kind}: never stopped the writer inside a write`);
    await sleep(Math.random() * 3);
    w.child.kill('SIGSTOP');
    await waitFor(() => stopped(w.pid), 5000, 'the writer to stop');
    if ((sequence(file, at) & 1) === 1) break;
    w.child.kill('SIGCONT');
  }
  w.child.kill('SIGKILL');
  await w.exited;
  const torn = notWritten(kind, leftBehind(file, at)) !== undefined;

  const next = runScript(WRITER, { env });
  await next.ready;
  const r = StatsReader.open(file);
  const value = valueOf(r.read());
  r.close();
  await next.end();
  const why = notWritten(kind, value);
  return { torn, bad: why && `${kind}: after the reopen a reader saw ${why}` };
}

test('a kept file reopened after its writer was SIGKILLed mid-write never shows a value no writer wrote (every seqlocked type)', async (t) => {
  const dir = tempStatsDir();
  const results = await Promise.all(
    KINDS.map(async (kind) => {
      let rounds = 0;
      let torn = 0;
      const bad: string[] = [];
      // At least 3 kills inside a write, and at least one that really left a torn payload behind.
      while ((rounds < 3 || torn === 0) && rounds < 12) {
        const r = await round(kind, dir);
        rounds++;
        if (r.torn) torn++;
        if (r.bad) bad.push(r.bad);
      }
      return { kind, rounds, torn, bad };
    }),
  );
  for (const r of results)
    t.diagnostic(`${r.kind}: ${r.rounds} kills inside a write, ${r.torn} left a torn payload, ${r.bad.length} reopens showed one`);
  assert.deepEqual(
    results.flatMap((r) => r.bad),
    [],
  );
  for (const r of results) assert.ok(r.torn > 0, `${r.kind}: no kill left a torn payload in ${r.rounds} rounds: the attack did not happen`);
});
