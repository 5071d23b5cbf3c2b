/**
 * The dashboard's data side: turn reader snapshots into the wire updates that
 * `/api/stream` pushes (see protocol.ts), and keep the stats files open between
 * ticks when no server store does it for us.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MmstatsError } from '../../errors.js';
import { StatsReader, findFiles, type FieldValue, type Snapshot, type Value } from '../../reader/index.js';
import { readLimits } from '../snapshots.js';
import type { WireField, WireUpdate, WireValue, WireWriter } from './protocol.js';

/** What one tick read: the snapshots, and the files that failed with why. */
export interface ReadResult {
  readonly snapshots: readonly Snapshot[];
  readonly errors: readonly { readonly path: string; readonly error: Error }[];
}

/** A stable id per file and writer incarnation: a restarted writer is a new row. */
export function writerId(s: Snapshot): string {
  return `${s.path}#${s.writer.pid}:${s.writer.threadId}:${s.writer.startToken}:${s.writer.createdMs}`;
}

/** A reader value as JSON can carry it (bigints past 2^53 as strings, +Infinity bounds as null). */
export function wireValue(v: Value): WireValue {
  if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') {
    return typeof v === 'number' && !Number.isFinite(v) ? null : v;
  }
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if ('buckets' in v && Array.isArray(v.buckets)) {
    const idx: number[] = [];
    const counts: number[] = [];
    v.buckets.forEach((b, i) => {
      if (b.count > 0) {
        idx.push(i);
        counts.push(b.count);
      }
    });
    const finite = (x: number) => (Number.isFinite(x) ? x : 0);
    return { count: v.count, sum: finite(v.sum), min: finite(v.min), max: finite(v.max), idx, counts };
  }
  const parts: Record<string, number> = {};
  for (const [k, x] of Object.entries(v as Record<string, number>)) parts[k] = x;
  return parts;
}

function commandOf(s: Snapshot): string {
  const f = s.fields.find((x) => x.label === 'sys.cmd');
  if (f && typeof f.value === 'string' && f.value.length > 0) return f.value;
  // The default file name starts with the command: {CMD}-{CLASS}-{PID}-{TID}.
  return path.basename(s.path).split('-')[0] ?? '';
}

/**
 * The layout number a page reads a writer's values by: the file's generation,
 * mixed with the labels of its family children, which come and go without
 * changing the generation (FNV-1a over them, above 2^32 so that it never equals
 * a plain generation).
 */
export function layoutOf(s: Snapshot): number {
  let hash = 0x811c9dc5;
  let children = 0;
  const mix = (text: string) => {
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  };
  for (const f of s.fields) {
    if (f.family === undefined) continue;
    children++;
    mix(f.label);
    mix('\n');
  }
  if (children === 0) return s.generation;
  mix(String(s.generation));
  return (1 + (s.fields.length % 0x100000)) * 2 ** 32 + hash;
}

function wireField(f: FieldValue): WireField {
  const { family, labels } = f;
  const base = {
    label: f.label,
    kind: f.kind,
    type: f.type,
    unit: f.unit,
    help: f.help,
    static: f.static,
    ...(family !== undefined ? { family, labels: labels ?? {} } : {}),
  };
  const v = f.value;
  // Bucket bounds never change for a field: they travel with its metadata, once.
  if (typeof v === 'object' && v !== null && 'buckets' in v && Array.isArray(v.buckets)) {
    return { ...base, le: v.buckets.map((b) => (Number.isFinite(b.le) ? b.le : null)) };
  }
  return base;
}

/** One writer of a tick, with its whole field metadata (each connection decides whether to send it). */
export interface TickWriter {
  readonly wire: WireWriter;
  /**
   * False when a histogram was read as null (busy): its bounds are missing from
   * the metadata, which must then be sent again next tick.
   */
  readonly metaComplete: boolean;
}

/** Turn one read into wire writers, once per tick whatever the number of pages. */
export function tickWriters(read: ReadResult): TickWriter[] {
  const out: TickWriter[] = [];
  for (const s of read.snapshots) {
    out.push({
      metaComplete: !s.fields.some((f) => f.type === 'histogram' && f.value === null),
      wire: {
        id: writerId(s),
        file: path.basename(s.path),
        cmd: commandOf(s),
        pid: s.writer.pid,
        tid: s.writer.threadId,
        osTid: s.writer.osTid,
        alive: s.writer.alive,
        state: s.writer.state,
        createdMs: s.writer.createdMs,
        generation: layoutOf(s),
        fields: s.fields.map(wireField),
        values: s.fields.map((f) => wireValue(f.value)),
      },
    });
  }
  for (const e of read.errors) {
    const code = e.error instanceof MmstatsError ? `${e.error.code}: ` : '';
    // The row names the file already: keep the message to the reason.
    const message = e.error.message.startsWith(`${e.path}: `) ? e.error.message.slice(e.path.length + 2) : e.error.message;
    out.push({
      metaComplete: true,
      wire: {
        id: `${e.path}#error`,
        file: path.basename(e.path),
        cmd: '',
        pid: 0,
        tid: 0,
        osTid: 0,
        alive: false,
        state: 'error',
        createdMs: 0,
        generation: 0,
        error: code + message,
        values: [],
      },
    });
  }
  return out;
}

/**
 * Encodes ticks for one connection: field metadata goes out the first time a
 * writer is seen and again only when its layout generation changes.
 */
export class UpdateEncoder {
  private readonly sent = new Map<string, number>();

  /** Encode a read (tickWriters of it). */
  encode(t: number, paths: readonly string[], read: ReadResult): WireUpdate {
    return this.encodeTick(t, paths, tickWriters(read));
  }

  /** Encode a tick already turned into wire writers. */
  encodeTick(t: number, paths: readonly string[], tick: readonly TickWriter[]): WireUpdate {
    const writers: WireWriter[] = [];
    const seen = new Set<string>();
    for (const { wire, metaComplete } of tick) {
      seen.add(wire.id);
      if (wire.error) {
        writers.push(wire);
        continue;
      }
      const sendMeta = this.sent.get(wire.id) !== wire.generation;
      if (sendMeta && metaComplete) this.sent.set(wire.id, wire.generation);
      if (sendMeta) writers.push(wire);
      else {
        const values: { -readonly [K in keyof WireWriter]?: WireWriter[K] } = { ...wire };
        delete values.fields;
        writers.push(values as WireWriter);
      }
    }
    for (const id of this.sent.keys()) if (!seen.has(id)) this.sent.delete(id);
    return { t, paths, writers };
  }
}

/**
 * Reads every stats file under some paths on demand, keeping one reader per file
 * between calls (a re-read is cheap). A file replaced under the same name (a new
 * inode) gets a new reader; files that vanish are closed.
 */
export class FilePoller {
  private readonly readers = new Map<string, { reader: StatsReader; ino: number }>();
  /** The per-file read limits every other reader of the tools uses (MMSTATS_MAX_FILE_*). */
  private readonly limits = readLimits();

  constructor(readonly paths: readonly string[]) {}

  read(): ReadResult {
    // A directory means DIR/*.mmstats (findFiles' rule).
    const files = findFiles(this.paths);
    const snapshots: Snapshot[] = [];
    const errors: { path: string; error: Error }[] = [];
    const current = new Set(files);
    for (const [file, r] of this.readers) {
      if (!current.has(file)) {
        r.reader.close();
        this.readers.delete(file);
      }
    }
    for (const file of files) {
      try {
        snapshots.push(this.readOne(file));
      } catch (err) {
        const had = this.readers.get(file);
        had?.reader.close();
        this.readers.delete(file);
        // A file removed between the listing and the open is not an error: its writer left.
        if ((err as MmstatsError).code === 'ERR_MMSTATS_IO' && !fs.existsSync(file)) continue;
        errors.push({ path: file, error: err instanceof Error ? err : new Error(String(err)) });
      }
    }
    return { snapshots, errors };
  }

  private readOne(file: string): Snapshot {
    let ino: number;
    try {
      ino = fs.lstatSync(file).ino;
    } catch (err) {
      throw new MmstatsError('ERR_MMSTATS_IO', `cannot stat: ${(err as Error).message}`, { path: file, cause: err });
    }
    let entry = this.readers.get(file);
    if (entry && entry.ino !== ino) {
      entry.reader.close();
      entry = undefined;
    }
    if (!entry) {
      entry = { reader: StatsReader.open(file, this.limits), ino };
      this.readers.set(file, entry);
    }
    return entry.reader.read();
  }

  /** Close every reader. */
  close(): void {
    for (const r of this.readers.values()) r.reader.close();
    this.readers.clear();
  }
}
