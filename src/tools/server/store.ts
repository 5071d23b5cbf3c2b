/**
 * The server's view of the stats files: a bounded cache of open StatsReaders over
 * one or more stats directories.
 *
 * Directories are rescanned on demand, at most every `rescanMs`: new files are
 * opened, the readers of vanished or replaced files are closed, and files that
 * failed (malformed, still being created, not regular) are retried now and then
 * and shown as an error on their own row meanwhile. At most `maxOpen` readers stay
 * open; files beyond that are opened, read and closed on each read, so the
 * number of descriptors and mappings the server holds is bounded whatever the
 * number of files. Reads are shared for `cacheMs`, so many clients (or a scrape
 * and a page) cost one pass over the files.
 *
 * This module is the only part of the server that touches stats files, and it
 * does so only through the reader API.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MmstatsError } from '../../errors.js';
import { CounterTracker, aggregateFields, type AggregatedField, type GaugeMode } from '../../reader/aggregate.js';
import { StatsReader, type ReadLimits, type HistogramValue, type Snapshot, type Value } from '../../reader/reader.js';
import { openFileLimit } from '../../platform/limits.js';
import { summarizeHistogram, type HistogramSummary } from './summary.js';
import { compileGlob, type Glob } from './safe-path.js';

/** Options of a StatsStore. */
export interface StoreOptions {
  /** Stats directories to serve (each `DIR/*.mmstats`, or the `pattern`). */
  readonly paths: readonly string[];
  /** File-name glob of stats files inside each directory (default `*.mmstats`). */
  readonly pattern?: string;
  /**
   * Readers kept open at most; further files are opened, read and closed at each
   * read. Default: {@link defaultMaxOpen}`(0)`, what the descriptor limit allows.
   */
  readonly maxOpen?: number;
  /** Files tracked at most (default 20000); further files are left out and counted. */
  readonly maxFiles?: number;
  /** Directories are rescanned at most this often, in ms (default 250). */
  readonly rescanMs?: number;
  /** A read is shared by every caller for this long, in ms (default 100). */
  readonly cacheMs?: number;
  /** A file that failed to open is tried again after this long, in ms (default 1000). */
  readonly retryMs?: number;
  /** What is decoded of one file at most; a file over it is that file's ERR_MMSTATS_LIMIT error (default: none). */
  readonly limits?: ReadLimits;
  /**
   * Bytes decoded by one read of all files at most (default 16 MiB): once the files
   * read so far reach it, the rest of that pass are ERR_MMSTATS_LIMIT rows, not read.
   */
  readonly maxTotalBytes?: number;
}

/** Why a file could not be read: a stable code and a message. */
export interface FileError {
  readonly code: string;
  readonly message: string;
}

/** One file as last read: its snapshot, or why it failed. */
export interface FileRow {
  readonly path: string;
  /** The file name (what `/files/<glob>` and `/api/files/<name>` match). */
  readonly name: string;
  readonly snapshot?: Snapshot;
  readonly error?: FileError;
  /** When this server first read the file with its writer gone (ms since the epoch); undefined while it runs. */
  readonly goneAt?: number;
}

/** One row of `/api/writers`: a file's writer, or the file's error. */
export interface WriterRow {
  readonly path: string;
  readonly name: string;
  /** The program's base name (the writer's `sys.program`; for older files, from the file name and `sys.cmd`). */
  readonly cmd: string;
  /** The model (class) name (the writer's `sys.model`; for older files, from the file name when it has one). */
  readonly model: string;
  readonly pid: number | null;
  /** worker_threads.threadId of the writer (0 = main thread); the `{TID}` of the file name. */
  readonly tid: number | null;
  readonly osTid: number | null;
  readonly alive: boolean;
  /** `alive`, `stale` (writer gone or file closed) or `error`. */
  readonly status: 'alive' | 'stale' | 'error';
  readonly format: 1 | 2 | null;
  readonly createdMs: number | null;
  readonly generation: number | null;
  readonly fields: number;
  readonly error: FileError | null;
}

/** One row of `/api/fields`: a field combined over writers, and each writer's value. */
export interface FieldRow extends Omit<AggregatedField, 'value'> {
  /** The combined value (see aggregate.ts for the rule per kind). */
  readonly value: unknown;
  /** Percentiles and derived values of a histogram or timer (merged over writers). */
  readonly summary?: HistogramSummary;
  /** Each writer's own value. */
  readonly byWriter: readonly { readonly name: string; readonly pid: number; readonly tid: number; readonly value: unknown }[];
}

/** Everything read at one moment. */
export interface StoreView {
  /** When the read was made (ms since the epoch). */
  readonly at: number;
  /** Every file, in path order: snapshot or error. */
  readonly files: readonly FileRow[];
  /** The files that read (the dashboard's and aggregate.ts' input). */
  readonly snapshots: readonly Snapshot[];
  /** The files that failed, with why. */
  readonly errors: readonly { readonly path: string; readonly error: MmstatsError }[];
  /** Files left out because there were more than `maxFiles`. */
  readonly skipped: number;
}

interface Entry {
  readonly path: string;
  readonly name: string;
  ino: number;
  reader: StatsReader | undefined;
  error: MmstatsError | undefined;
  triedAt: number;
  /** Size and mtime when the open failed: a change means "try again now". */
  failedStamp: string;
  /** When a read first found the writer gone (see FileRow.goneAt). */
  goneAt: number | undefined;
}

const INITIALISING = 'ERR_MMSTATS_INITIALISING';
/** A directory mtime this old (ms) cannot be shared by a later change (see stampDirs). */
const SETTLED_MS = 1000;

function asError(file: string, err: unknown): MmstatsError {
  return err instanceof MmstatsError
    ? err
    : new MmstatsError('ERR_MMSTATS_IO', String((err as Error)?.message ?? err), { path: file, cause: err });
}

/** The error of a file as JSON: its code and the message without the path. */
export function fileError(err: MmstatsError): FileError {
  const prefix = err.path === undefined ? '' : `${err.path}: `;
  return { code: err.code, message: err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message };
}

/** Descriptors left for what is not a stats file or a client socket: standard streams, the event loop, files the dashboard sends. */
export const DESCRIPTOR_RESERVE = 64;
/** Readers kept open at most where the descriptor limit cannot be read. */
export const FALLBACK_MAX_OPEN = 2048;
/** Files tracked at most by default. */
export const DEFAULT_MAX_FILES = 20_000;

/**
 * How many readers a store keeps open by default: every descriptor the process
 * may open (its soft `RLIMIT_NOFILE`, which Node.js raised to the hard limit at
 * start-up), less `sockets` for client connections and DESCRIPTOR_RESERVE for
 * the rest, at most `maxFiles` (no more files are tracked); FALLBACK_MAX_OPEN
 * where the limit cannot be read. A reader holds one descriptor (and one mapping).
 *
 * @param sockets - Descriptors to leave for client connections (a server's `maxConnections`).
 * @param maxFiles - Files tracked at most.
 * @param limit - The descriptor limit (default: this process's, see openFileLimit).
 */
export function defaultMaxOpen(sockets: number, maxFiles = DEFAULT_MAX_FILES, limit = openFileLimit()): number {
  if (limit === undefined) return FALLBACK_MAX_OPEN;
  return Math.max(0, Math.min(maxFiles, limit - sockets - DESCRIPTOR_RESERVE));
}

/** A bounded, self-refreshing cache of readers over stats directories. */
export class StatsStore {
  /** The stats directories as configured. */
  readonly paths: readonly string[];
  private readonly pattern: Glob;
  private readonly maxOpen: number;
  private readonly maxFiles: number;
  private readonly rescanMs: number;
  private readonly cacheMs: number;
  private readonly retryMs: number;
  private readonly limits: ReadLimits;
  private readonly maxTotalBytes: number;
  private readonly entries = new Map<string, Entry>();
  private realDirs: string[] = [];
  private scannedAt = -Infinity;
  private skipped = 0;
  private openCount = 0;
  private view: StoreView | undefined;
  private readonly tracker = new CounterTracker();
  private closed = false;
  /** The directories' inodes and mtimes at the last scan: nothing was added, removed or renamed in them while it holds. */
  private dirsStamp = '';
  /** The stamp's mtimes are old enough that a change since the scan would have moved them (see stampDirs). */
  private dirsSettled = false;
  /** The entries in path order (the order of a read), until they change. */
  private sorted: Entry[] | undefined;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: StoreOptions) {
    if (options.paths.length === 0) throw new MmstatsError('ERR_MMSTATS_IO', 'no stats path to serve');
    this.paths = options.paths.map((p) => path.resolve(p));
    this.pattern = compileGlob(options.pattern ?? '*.mmstats');
    this.maxFiles = options.maxFiles ?? DEFAULT_MAX_FILES;
    this.maxOpen = options.maxOpen ?? defaultMaxOpen(0, this.maxFiles);
    this.rescanMs = options.rescanMs ?? 250;
    this.cacheMs = options.cacheMs ?? 100;
    this.retryMs = options.retryMs ?? 1000;
    this.limits = options.limits ?? {};
    this.maxTotalBytes = options.maxTotalBytes ?? 16 * 1024 * 1024;
    // Files removed while no request comes must not keep their descriptor and mapping until one does:
    // a sweep rescans whenever a directory changed (a stat per directory when nothing did).
    this.sweeper = setInterval(
      () => {
        if (!this.dirsUnchanged()) this.rescan(true);
      },
      Math.max(this.rescanMs, 1000),
    );
    this.sweeper.unref();
  }

  /**
   * The directories' inodes and mtimes, and whether every mtime is at least
   * SETTLED_MS old. A directory's mtime moves whenever a name in it is added,
   * removed or renamed over, but the kernel stamps it from a clock that ticks every
   * few milliseconds: a change made in the same tick as a scan leaves the same mtime.
   * So only a stamp whose mtimes are older than that (settled) proves, by being equal
   * later, that the directories did not change.
   */
  private stampDirs(): { stamp: string; settled: boolean } {
    let stamp = '';
    let settled = true;
    const now = Date.now();
    for (const p of this.paths) {
      try {
        const st = fs.statSync(p);
        stamp += `${st.ino}:${st.mtimeMs};`;
        if (now - st.mtimeMs < SETTLED_MS) settled = false;
      } catch {
        stamp += '-;';
      }
    }
    return { stamp, settled };
  }

  /** True if no name was added, removed or renamed in the directories since the last scan (a stat of each directory). */
  private dirsUnchanged(): boolean {
    return this.dirsSettled && this.stampDirs().stamp === this.dirsStamp;
  }

  /** The stats directories that exist now, as real paths (symlinks in the configured paths resolved). */
  get dirs(): readonly string[] {
    this.rescan(false);
    return this.realDirs;
  }

  /** How many readers are open (each holds one descriptor and one mapping). */
  get openReaders(): number {
    return this.openCount;
  }

  /** How many readers are kept open at most (`maxOpen`, or its default). */
  get maxOpenReaders(): number {
    return this.maxOpen;
  }

  /** How many files are tracked. */
  get trackedFiles(): number {
    return this.entries.size;
  }

  /** Rescan the directories now if the last scan is older than `rescanMs` (or `force`). */
  rescan(force = true): void {
    if (this.closed) return;
    const now = Date.now();
    if (!force && now - this.scannedAt < this.rescanMs) return;
    this.scannedAt = now;
    // Unchanged directories hold the same names for the same files (a file replaced under
    // its name is a rename over it, or an unlink and a create): nothing to look at again.
    // With 10,000 files the scan below is 10,000 lstat calls.
    if (!force && this.dirsUnchanged()) return;
    const stamp = this.stampDirs();
    this.dirsStamp = stamp.stamp;
    this.dirsSettled = stamp.settled;
    const dirs: string[] = [];
    for (const p of this.paths) {
      try {
        const real = fs.realpathSync(p);
        if (fs.statSync(real).isDirectory() && !dirs.includes(real)) dirs.push(real);
      } catch {
        // Not there (yet): its writers have not started. Served as soon as it appears.
      }
    }
    this.realDirs = dirs;
    const seen = new Set<string>();
    let skipped = 0;
    for (const dir of dirs) {
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch {
        continue;
      }
      names.sort();
      for (const name of names) {
        if (!this.pattern.test(name)) continue;
        const file = path.join(dir, name);
        if (seen.size >= this.maxFiles && !this.entries.has(file)) {
          skipped++;
          continue;
        }
        let st: fs.Stats;
        try {
          st = fs.lstatSync(file);
        } catch {
          continue; // Removed between readdir and lstat.
        }
        // Symbolic links (wherever they point), FIFOs and directories are never served.
        if (!st.isFile()) continue;
        seen.add(file);
        const old = this.entries.get(file);
        if (old && old.ino === st.ino) continue;
        // A new file, or a new file under an old name (its writer restarted): start afresh.
        if (old) this.drop(old);
        this.sorted = undefined;
        this.entries.set(file, {
          path: file,
          name,
          ino: st.ino,
          reader: undefined,
          error: undefined,
          triedAt: -Infinity,
          failedStamp: '',
          goneAt: undefined,
        });
      }
    }
    for (const e of this.entries.values()) if (!seen.has(e.path)) this.drop(e);
    this.skipped = skipped;
  }

  private drop(e: Entry): void {
    this.closeReader(e);
    this.entries.delete(e.path);
    this.sorted = undefined;
  }

  private closeReader(e: Entry): void {
    if (!e.reader) return;
    e.reader.close();
    e.reader = undefined;
    this.openCount--;
  }

  private stamp(file: string): string {
    try {
      const st = fs.lstatSync(file);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'gone';
    }
  }

  /** Read one entry: through its open reader, or by opening it (kept open while under the bound). Adds what it decoded to `spent`. */
  private readEntry(e: Entry, now: number, spent: { bytes: number }): FileRow & { limitError?: MmstatsError } {
    const remaining = this.maxTotalBytes - spent.bytes;
    if (e.reader) {
      if (e.reader.decodedBytes > remaining) return this.overBudget(e, spent.bytes);
      try {
        const snapshot = e.reader.read();
        spent.bytes += e.reader.decodedBytes;
        return { path: e.path, name: e.name, snapshot };
      } catch (err) {
        // Truncated, replaced or broken under us: close, and let the next pass reopen it.
        this.closeReader(e);
        e.error = asError(e.path, err);
        e.triedAt = now;
        e.failedStamp = this.stamp(e.path);
        return { path: e.path, name: e.name, error: fileError(e.error) };
      }
    }
    if (e.error && e.error.code !== INITIALISING && now - e.triedAt < this.retryMs && this.stamp(e.path) === e.failedStamp) {
      return { path: e.path, name: e.name, error: fileError(e.error) };
    }
    let reader: StatsReader | undefined;
    const perFile = this.limits.maxBytes ?? Infinity;
    try {
      // The budget left is this file's limit too: a file is refused before it is decoded, never after.
      reader = StatsReader.open(e.path, { ...this.limits, maxBytes: Math.min(perFile, remaining) });
      const snapshot = reader.read();
      spent.bytes += reader.decodedBytes;
      e.error = undefined;
      if (this.openCount < this.maxOpen) {
        e.reader = reader;
        this.openCount++;
        reader = undefined;
      }
      return { path: e.path, name: e.name, snapshot };
    } catch (err) {
      if (remaining < perFile && err instanceof MmstatsError && err.code === 'ERR_MMSTATS_LIMIT') return this.overBudget(e, spent.bytes);
      e.error = asError(e.path, err);
      e.triedAt = now;
      e.failedStamp = this.stamp(e.path);
      return { path: e.path, name: e.name, error: fileError(e.error) };
    } finally {
      reader?.close();
    }
  }

  /** The row of a file left out of this read by the budget: not the file's own error, so not remembered. */
  private overBudget(e: Entry, spent: number): FileRow & { limitError: MmstatsError } {
    const error = new MmstatsError(
      'ERR_MMSTATS_LIMIT',
      `not read: with the ${spent} bytes of the files before it, it would pass the ${this.maxTotalBytes} bytes one read of all files decodes (--max-total-bytes)`,
      { path: e.path },
    );
    return { path: e.path, name: e.name, error: fileError(error), limitError: error };
  }

  /** Read every file (shared with other callers for `cacheMs`). */
  read(): StoreView {
    const now = Date.now();
    if (this.view && now - this.view.at < this.cacheMs) return this.view;
    this.rescan(false);
    const files: FileRow[] = [];
    const snapshots: Snapshot[] = [];
    const errors: { path: string; error: MmstatsError }[] = [];
    this.sorted ??= [...this.entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const sorted = this.sorted;
    const spent = { bytes: 0 };
    for (const e of sorted) {
      let row = this.readEntry(e, now, spent);
      if (row.snapshot) {
        e.goneAt = row.snapshot.writer.alive ? undefined : (e.goneAt ?? now);
        if (e.goneAt !== undefined) row = { ...row, goneAt: e.goneAt };
      }
      if (row.limitError) {
        files.push({ path: row.path, name: row.name, error: row.error });
        errors.push({ path: e.path, error: row.limitError });
        continue;
      }
      files.push(row);
      if (row.snapshot) snapshots.push(row.snapshot);
      else if (e.error) errors.push({ path: e.path, error: e.error });
    }
    // The counter totals need each writer's last values before it leaves: taken in when
    // the set of writers changes (the previous read's values, then this one's) and when
    // fields() asks, not at every read (100,000 counters cost 20 ms a read).
    if (!this.view || writersChanged(this.view.snapshots, snapshots)) {
      if (this.view) this.tracker.update(this.view.snapshots);
      this.tracker.update(snapshots);
    }
    this.view = { at: now, files, snapshots, errors, skipped: this.skipped };
    return this.view;
  }

  /** Snapshots and errors, in the shape of `readAll` (what the dashboard reads each tick). */
  readAll(): { snapshots: Snapshot[]; errors: { path: string; error: MmstatsError }[] } {
    const v = this.read();
    return { snapshots: [...v.snapshots], errors: [...v.errors] };
  }

  /** Files whose name matches `glob` (every file without one). */
  files(glob?: string): FileRow[] {
    const rows = this.read().files;
    if (glob === undefined) return [...rows];
    const re = compileGlob(glob);
    return rows.filter((r) => re.test(r.name));
  }

  /** One file by name, or undefined. */
  file(name: string): FileRow | undefined {
    return this.read().files.find((r) => r.name === name);
  }

  /** Every file as a writer row: identity and liveness, or the file's error. */
  writers(): WriterRow[] {
    return this.read().files.map(writerRow);
  }

  /**
   * Every field combined over the writers that have it (one rule per kind, see
   * aggregate.ts; counters never go backwards), with each writer's own value and,
   * for histograms and timers, percentiles of the merged data.
   */
  fields(options: { prefix?: string; gauge?: GaugeMode; glob?: string } = {}): FieldRow[] {
    const view = this.read();
    this.tracker.update(view.snapshots);
    const rows = options.glob === undefined ? view.files : this.files(options.glob);
    const snaps = rows.flatMap((r) => (r.snapshot ? [r.snapshot] : []));
    const prefix = options.prefix ?? '';
    const byLabel = new Map<string, { name: string; pid: number; tid: number; value: unknown }[]>();
    for (const s of snaps) {
      const name = path.basename(s.path);
      for (const f of s.fields) {
        if (!f.label.startsWith(prefix)) continue;
        let list = byLabel.get(f.label);
        if (!list) byLabel.set(f.label, (list = []));
        list.push({ name, pid: s.writer.pid, tid: s.writer.threadId, value: jsonValue(f.value) });
      }
    }
    const out: FieldRow[] = [];
    // Counter totals that survive departed writers are kept over every file; a glob's subset is summed as it is now.
    const counters = options.glob === undefined ? this.tracker : undefined;
    for (const a of aggregateFields(snaps, { gauge: options.gauge, counters })) {
      if (!a.label.startsWith(prefix)) continue;
      const summary = isHistogram(a.value) ? summarizeHistogram(a.value) : undefined;
      out.push({ ...a, value: jsonValue(a.value), ...(summary ? { summary } : {}), byWriter: byLabel.get(a.label) ?? [] });
    }
    return out.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  }

  /** Close every reader; the store reads nothing after this. */
  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const e of this.entries.values()) this.closeReader(e);
    this.entries.clear();
    this.sorted = undefined;
    this.view = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** True unless `b` holds the same writers as `a`, in the same order (files, processes, threads, starts). */
function writersChanged(a: readonly Snapshot[], b: readonly Snapshot[]): boolean {
  if (a.length !== b.length) return true;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const w = x.writer;
    const v = y.writer;
    if (x.path !== y.path || w.pid !== v.pid || w.threadId !== v.threadId || w.startToken !== v.startToken || w.createdMs !== v.createdMs)
      return true;
  }
  return false;
}

/** True if `v` is a histogram value as the reader returns it. */
export function isHistogram(v: unknown): v is HistogramValue {
  return typeof v === 'object' && v !== null && Array.isArray((v as HistogramValue).buckets);
}

/**
 * A value made safe for JSON: a bigint beyond 2^53 becomes a decimal string, a
 * non-finite number (a histogram's +Infinity bound) becomes `"+Inf"`, `"-Inf"` or
 * `"NaN"`, as in Prometheus. A histogram lists only its non-empty buckets (a
 * log-linear one has thousands), each with its lower bound `lo` as well as `le`.
 */
export function jsonValue(v: unknown): unknown {
  if (isHistogram(v)) {
    const buckets: { lo: unknown; le: unknown; count: number }[] = [];
    let lo = -Infinity;
    for (const b of v.buckets) {
      if (b.count !== 0) buckets.push({ lo: jsonValue(lo), le: jsonValue(b.le), count: b.count });
      lo = b.le;
    }
    return { ...(jsonValue({ ...v, buckets: undefined }) as object), buckets };
  }
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? v : Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  if (Array.isArray(v)) return v.map(jsonValue);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = jsonValue(x);
    return out;
  }
  return v;
}

function numberOf(v: Value | undefined): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

/** The program's base name from a `sys.cmd` command line, by the writer's own rule (see commandName). */
function commandFromLine(line: string): string | undefined {
  const words = line.split(' ').filter((w) => w.length > 0);
  const script = words[1] ?? words[0];
  if (script === undefined) return undefined;
  const base = path.basename(script).replace(/\.[cm]?[jt]s$/, '');
  return base.replace(/[^A-Za-z0-9._-]/g, '_') || undefined;
}

/** A static text field of a snapshot (`sys.program`, `sys.model`, `sys.cmd`...), or undefined. */
export function textField(s: Snapshot | undefined, label: string): string | undefined {
  if (!s) return undefined;
  for (const f of s.fields) if (f.label === label) return typeof f.value === 'string' ? f.value : undefined;
  return undefined;
}

/**
 * Who wrote a file, for rows and metric labels: the program (`cmd`) and the model.
 * A writer of this version publishes both, as it made its file name, in its
 * `sys.program` and `sys.model` fields: they are used as they are. For other files
 * (the original's, older versions) they are found from the file name
 * `{CMD}-{CLASS}-{PID}-{TID}.mmstats` (or the original's `{CMD}-{PID}-{TID}`) and the
 * `sys.cmd` command line.
 */
export function writerNames(file: string, s?: Snapshot): { cmd: string; model: string } {
  const program = textField(s, 'sys.program');
  const model = textField(s, 'sys.model');
  if (program !== undefined && program !== '') return { cmd: program, model: model ?? '' };
  const base = path.basename(file).replace(/\.mmstats$/, '');
  const cmdLine = textField(s, 'sys.cmd');
  const fromLine = cmdLine === undefined ? undefined : commandFromLine(cmdLine);
  const m = /^(.*)-(\d+)-(\d+)$/.exec(base);
  const head = m && (s === undefined || Number(m[2]) === s.writer.pid) ? m[1]! : undefined;
  if (head !== undefined) {
    if (fromLine && head.startsWith(fromLine + '-')) return { cmd: fromLine, model: model ?? head.slice(fromLine.length + 1) };
    if (fromLine && head === fromLine) return { cmd: fromLine, model: model ?? '' };
    return { cmd: head, model: model ?? '' };
  }
  return { cmd: fromLine ?? base, model: model ?? '' };
}

/** The writer row of a file. */
export function writerRow(row: FileRow): WriterRow {
  const s = row.snapshot;
  if (!s) {
    const names = writerNames(row.path);
    return {
      path: row.path,
      name: row.name,
      ...names,
      pid: null,
      tid: null,
      osTid: null,
      alive: false,
      status: 'error',
      format: null,
      createdMs: null,
      generation: null,
      fields: 0,
      error: row.error ?? { code: 'ERR_MMSTATS_IO', message: 'unreadable' },
    };
  }
  const w = s.writer;
  return {
    path: row.path,
    name: row.name,
    ...writerNames(row.path, s),
    pid: w.pid,
    tid: w.threadId,
    osTid: numberOf(w.osTid) ?? null,
    alive: w.alive,
    status: w.alive ? 'alive' : 'stale',
    format: s.format,
    createdMs: w.createdMs,
    generation: s.generation,
    fields: s.fields.length,
    error: null,
  };
}
