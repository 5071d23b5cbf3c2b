/**
 * The writer API: declarative models (`defineModel`) and the procedural form
 * (`openStats` + `add`). Both give a `Stats` instance over one file per thread.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { threadId as workerThreadId } from 'node:worker_threads';
import { MmstatsError } from '../errors.js';
import * as native from '../native/index.js';
import { DEFAULT_FILENAME, commandName, expandTemplate, writerStatsDir } from '../platform/paths.js';
import { Header, MAGIC } from '../format/v2.js';
import { checkLabel, FieldSpec, type Field, type FormatVersion } from './field.js';
import { field } from './fields/index.js';
import { Storage } from './storage.js';
import { openSharedStorage, type SharedScope } from './shared.js';

/** @internal What a Stats needs of its storage: a file of its own, or a shared one. */
export type StatsStorage = Pick<Storage, 'path' | 'format' | 'keep' | 'place' | 'flush' | 'close' | 'remove' | 'markReady'>;

/** Options for opening stats. */
export interface OpenOptions {
  /** Directory of the file. Default: MMSTATS_PATH, else a private per-user directory. */
  readonly path?: string;
  /** File name template with {CMD}, {PID}, {TID}, {CLASS}. Default: MMSTATS_FILES, else `{CMD}-{CLASS}-{PID}-{TID}.mmstats`. */
  readonly filename?: string;
  /** File format: 2 (default) or 1 (the original's, readable by its tools). */
  readonly format?: FormatVersion;
  /** Prefix prepended to every label. */
  readonly prefix?: string;
  /** File mode at creation (default 0o600; 0o640 lets a reader in the group read it). */
  readonly mode?: number;
  /**
   * Keep the file after exit and continue from its values when reopened (default
   * false). Counters, gauges, strings, running averages, histograms, timers and
   * minMax continue; moving and time-window averages (and a `moving_mean`) start
   * empty: the values in their windows are not in the file, and a window is about
   * recent values, which a restart breaks.
   */
  readonly keep?: boolean;
  /** Add the default `sys.*` fields (default true). */
  readonly defaultFields?: boolean;
  /**
   * Shared mode (docs/RUNTIME.md): one file for every worker thread of this process
   * (`true`), or for every process of a cluster (`'cluster'`, opened in the primary
   * before it forks), with atomic updates. `{TID}` in the file name becomes `shared`.
   */
  readonly shared?: SharedScope;
  /**
   * What to do when the stats file cannot be created or grown (no space, no
   * permission, read-only file system, unsafe directory): `'throw'` (default) an
   * MmstatsError, or `'memory'`: go on with the stats in memory. Fields then work
   * as usual but nothing is written and no reader sees them; `stats.inMemory` is
   * true and one process warning (code MMSTATS_IN_MEMORY) says why. Not for `shared`.
   */
  readonly onError?: 'throw' | 'memory';
}

/** A schema: property name → field spec. */
export type Schema = Record<string, FieldSpec>;

/** The live fields a schema gives, typed per property. */
export type FieldsOf<S extends Schema> = { readonly [K in keyof S]: S[K] extends FieldSpec<infer F> ? F : never };

/** Open stats: one mapped file, its fields, and its life cycle. */
export class Stats {
  /** @internal */
  readonly storage: StatsStorage;
  /** The label prefix. */
  readonly prefix: string;
  private readonly byLabel = new Map<string, Field>();

  /** @internal Use `openStats` or `Model.open`. */
  constructor(storage: StatsStorage, prefix: string) {
    this.storage = storage;
    this.prefix = prefix;
  }

  /** Path of the stats file. */
  get path(): string {
    return this.storage.path;
  }

  /** True when the stats live in memory only (see `OpenOptions.onError`): no file is written. */
  get inMemory(): boolean {
    return this.storage instanceof Storage && this.storage.memory;
  }

  /** File format of the stats file. */
  get format(): FormatVersion {
    return this.storage.format;
  }

  /** Labels of every field, in file order. */
  get labels(): string[] {
    return [...this.byLabel.keys()];
  }

  /** The live field of a label (the full label, prefix included). */
  get(label: string): Field | undefined {
    return this.byLabel.get(label);
  }

  /**
   * Add a field now. Readers that already hold the file see it as soon as it is
   * complete. `name` gets the prefix unless the spec sets its own `label`.
   */
  add<F extends Field>(name: string, spec: FieldSpec<F>): F {
    checkSpec(name, spec);
    const label = spec.options.label ?? this.prefix + name;
    checkLabel(label);
    if (this.byLabel.has(label))
      throw new MmstatsError('ERR_MMSTATS_LABEL', `label ${label} is already used in this file`, { path: this.path });
    const f = this.storage.place(label, spec);
    this.byLabel.set(label, f);
    return f;
  }

  /** msync the file to its backing store (`async`: schedule only). */
  flush(options: { async?: boolean } = {}): void {
    this.storage.flush(options.async ?? false);
  }

  /** Unmap and close the file, leaving it in place. Idempotent; fields throw after it. */
  close(): void {
    this.storage.close();
  }

  /**
   * Close and delete the file; also deletes this process's leftover files of other
   * threads of the same name template. Idempotent.
   */
  remove(): void {
    this.storage.remove();
    removeLeftoverThreadFiles(this.path);
  }

  /** `using stats = Model.open()` removes the file (or closes it if kept) at scope end. */
  [Symbol.dispose](): void {
    if (this.storage.keep) this.close();
    else this.remove();
  }
}

interface Target {
  readonly className: string;
  readonly template: string;
}

/** Paths of the files this thread's open of `className` would use. */
function resolveFile(className: string, options: OpenOptions): { dir: string; fileName: string; template: string } {
  const dir = options.path ?? writerStatsDir();
  const template = options.filename ?? (process.env.MMSTATS_FILES || DEFAULT_FILENAME); // an empty variable means unset
  const fileName = expandTemplate(template, { cmd: commandName(), pid: process.pid, tid: workerThreadId, className });
  return { dir, fileName, template };
}

const leftoverTemplates = new Map<string, Target & { dir: string }>();

function removeLeftoverThreadFiles(file: string): void {
  const t = leftoverTemplates.get(file);
  if (!t || !t.template.includes('{PID}') || !t.template.includes('{TID}')) return;
  const pattern = expandTemplate(t.template.replaceAll('{TID}', '\u0001'), {
    cmd: commandName(),
    pid: process.pid,
    tid: 0,
    className: t.className,
  });
  const [before, after] = pattern.split('\u0001') as [string, string];
  let names: string[];
  try {
    names = fs.readdirSync(t.dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(before) || !name.endsWith(after) || name.length <= before.length + after.length) continue;
    const tid = name.slice(before.length, name.length - after.length);
    if (!/^\d+$/.test(tid)) continue;
    const p = path.join(t.dir, name);
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch {
      continue;
    }
    try {
      // Only a file of this process whose writer thread is gone is a leftover.
      const head = Buffer.alloc(Header.SIZE);
      const n = fs.readSync(fd, head, 0, Header.SIZE, 0);
      const ours = n === Header.SIZE && head.subarray(0, 8).equals(Buffer.from(MAGIC)) && head.readUInt32LE(Header.PID) === process.pid;
      if (ours && !native.isLockedByOther(fd)) fs.unlinkSync(p);
    } catch {
      // Gone or unreadable: leave it.
    } finally {
      fs.closeSync(fd);
    }
  }
}

function defaultFieldSpecs(className: string): Schema {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return {
    'sys.pid': field.static.uint32(process.pid, { help: 'process id' }),
    'sys.tid': field.static.int64(() => native.threadId(), { help: 'OS thread id of the writer' }),
    'sys.uid': field.static.uint64(uid, { help: 'user id' }),
    'sys.gid': field.static.uint64(gid, { help: 'group id' }),
    'sys.created': field.static.float64(() => Date.now() / 1000, { help: 'creation time', unit: 'seconds' }),
    'sys.cmd': field.static.string(() => [process.argv0, ...process.argv.slice(1)].join(' '), { size: 255, help: 'command line' }),
    'org.nodejs.version': field.static.string(process.version, { size: 256, help: 'Node.js version' }),
    'sys.hostname': field.static.string(() => os.hostname(), { size: 64, help: 'host name' }),
    // The writer's identity as its file name was made ({CMD} and {CLASS}): readers take it
    // from here, not by parsing the name (a worker thread's own script is not the program).
    'sys.program': field.static.string(() => commandName(), { size: 128, help: 'program name ({CMD} of the file name)' }),
    'sys.model': field.static.string(className, { size: 128, help: 'model (class) name ({CLASS} of the file name)' }),
  };
}

function open(className: string, options: OpenOptions, schema: Schema): Stats {
  const { dir, fileName, template } = resolveFile(className, options);
  const shared = options.shared
    ? openSharedStorage({ dir, template, className, ...storageOptions(options), scope: options.shared })
    : undefined;
  const storage: StatsStorage =
    shared ?? Storage.open({ dir, fileName, ...storageOptions(options), shared: false, onError: options.onError });
  const stats = new Stats(storage, options.prefix ?? '');
  leftoverTemplates.set(storage.path, { className, template, dir });
  try {
    // A thread attaching to a shared file finds the default fields already there.
    if ((options.defaultFields ?? true) && shared?.creator !== false) {
      for (const [label, spec] of Object.entries(defaultFieldSpecs(className))) stats.add(label, withLabel(spec, label));
    }
    for (const [name, spec] of Object.entries(schema)) {
      (stats as unknown as Record<string, Field>)[name] = stats.add(name, spec);
    }
  } catch (err) {
    stats.remove();
    throw err;
  }
  storage.markReady();
  return stats;
}

function storageOptions(options: OpenOptions): { format: FormatVersion; mode: number; keep: boolean } {
  return { format: options.format ?? 2, mode: options.mode ?? 0o600, keep: options.keep ?? false };
}

function withLabel<S extends FieldSpec>(spec: S, label: string): S {
  // Default fields keep their fixed labels whatever the prefix.
  return Object.assign(Object.create(Object.getPrototypeOf(spec) as object) as S, spec, { options: { ...spec.options, label } });
}

/** A declared model: open it to get a typed instance over its own file. */
export class Model<S extends Schema> {
  /** @internal */
  constructor(
    /** The model's name, used for {CLASS} in file names. */
    readonly name: string,
    readonly schema: S,
    private readonly defaults: OpenOptions,
  ) {}

  /**
   * Create and map this thread's file for the model. Each worker thread that opens
   * the model gets its own file ({TID} differs).
   */
  open(options: OpenOptions = {}): Stats & FieldsOf<S> {
    return open(this.name, { ...this.defaults, ...options }, this.schema) as Stats & FieldsOf<S>;
  }
}

/** A plain-JavaScript caller may pass a factory (`field.counter`) instead of a spec (`field.counter()`). */
function checkSpec(name: string, spec: unknown): void {
  if (!(spec instanceof FieldSpec)) {
    const hint = typeof spec === 'function' ? ' (a factory: call it, e.g. field.counter())' : '';
    throw new TypeError(`field ${name} is not a field spec${hint}`);
  }
}

/**
 * Declare a model: a name and a schema of fields. Labels default to the property
 * names (with `options.prefix`); a bad or duplicate label is an error here.
 *
 * ```ts
 * const Web = defineModel('Web', { requests: field.counter() }, { prefix: 'web.' });
 * const stats = Web.open();
 * stats.requests.incr();
 * ```
 */
export function defineModel<S extends Schema>(name: string, schema: S, options: OpenOptions = {}): Model<S> {
  const seen = new Set<string>();
  for (const [key, spec] of Object.entries(schema)) {
    checkSpec(key, spec);
    if (key in Stats.prototype) throw new MmstatsError('ERR_MMSTATS_LABEL', `field name ${key} clashes with a Stats method`);
    const label = spec.options.label ?? (options.prefix ?? '') + key;
    checkLabel(label);
    if (seen.has(label)) throw new MmstatsError('ERR_MMSTATS_LABEL', `label ${label} is used twice in model ${name}`);
    seen.add(label);
  }
  return new Model(name, schema, options);
}

/**
 * Open stats without a model (the procedural API): add fields one call at a time.
 *
 * ```ts
 * const stats = openStats({ name: 'jobs' });
 * const done = stats.add('jobs.done', field.counter());
 * ```
 */
export function openStats(options: OpenOptions & { name: string }): Stats {
  return open(options.name, options, {});
}
