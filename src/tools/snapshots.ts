/**
 * Reading many stats files for the live commands one file at a time: each snapshot
 * is handed over (and can be cut down) before the next file is read, so that a
 * directory of files with large histograms is never held in memory all at once.
 */
import { MmstatsError } from '../errors.js';
import { StatsReader, findFiles, type ReadLimits, type Snapshot } from '../reader/index.js';
import { numberOption } from './args.js';
import { defaultGlob } from '../platform/paths.js';

/** Default of MMSTATS_MAX_FILE_BYTES: above the 56 MB of a file of 1,000,000 fields. */
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Default of MMSTATS_MAX_FILE_FIELDS: the format's own limit. */
export const DEFAULT_MAX_FILE_FIELDS = 1_000_000;

/**
 * What the tools decode of one file at most: MMSTATS_MAX_FILE_BYTES and
 * MMSTATS_MAX_FILE_FIELDS, else the defaults. A file over them is reported as
 * that file's ERR_MMSTATS_LIMIT error, never loaded.
 */
export function readLimits(env: NodeJS.ProcessEnv = process.env): Required<ReadLimits> {
  return {
    maxBytes: numberOption('MMSTATS_MAX_FILE_BYTES', env.MMSTATS_MAX_FILE_BYTES, DEFAULT_MAX_FILE_BYTES, 1, true),
    maxFields: numberOption('MMSTATS_MAX_FILE_FIELDS', env.MMSTATS_MAX_FILE_FIELDS, DEFAULT_MAX_FILE_FIELDS, 1, true),
  };
}

/** A file that could not be read or shown, and why. */
export interface FileFailure {
  readonly path: string;
  readonly error: MmstatsError;
}

/** The snapshots kept by `pick`, and the files that could not be read. */
export interface Collected<T> {
  readonly items: T[];
  readonly errors: FileFailure[];
  /** How many files the patterns found (read or not). */
  found: number;
}

/** Open, read and close one file within the limits: its snapshot, or why not. */
function readOne(file: string, limits: ReadLimits): { snap: Snapshot } | { error: MmstatsError } {
  let reader: StatsReader | undefined;
  try {
    reader = StatsReader.open(file, limits);
    return { snap: reader.read() };
  } catch (err) {
    return { error: asError(file, err) };
  } finally {
    reader?.close();
  }
}

/**
 * Where a command looked, for the message that it found no file: the patterns
 * given, else the default glob and what it comes from.
 */
export function whereLooked(patterns: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  if (patterns.length > 0) return patterns.join(', ');
  const from = env.MMSTATS_GLOB
    ? ' (MMSTATS_GLOB)'
    : env.MMSTATS_PATH
      ? ' (MMSTATS_PATH)'
      : ' (the default stats directory; MMSTATS_PATH or --path chooses another)';
  return defaultGlob(env) + from;
}

/**
 * Read every file the patterns find (default MMSTATS_GLOB), passing each snapshot
 * to `pick`; what it returns (unless undefined) is kept. A bad file never stops the rest.
 */
export function collect<T>(patterns: readonly string[], pick: (snap: Snapshot) => T | undefined): Collected<T> {
  const out: Collected<T> = { items: [], errors: [], found: 0 };
  const limits = readLimits();
  for (const file of findFiles(patterns)) {
    out.found++;
    const r = readOne(file, limits);
    if ('error' in r) {
      out.errors.push({ path: file, error: r.error });
      continue;
    }
    // A file that cannot be shown (whatever the reason) is that file's error, never the end of the others.
    try {
      const item = pick(r.snap);
      if (item !== undefined) out.items.push(item);
    } catch (err) {
      out.errors.push({ path: file, error: asError(file, err) });
    }
  }
  return out;
}

/**
 * Read every file the patterns find and hand each snapshot to `use`, waiting for
 * it before the next file is read: output is written file by file, so memory
 * holds one file at a time. Returns the files that failed.
 */
export async function eachSnapshot(patterns: readonly string[], use: (snap: Snapshot) => Promise<void>): Promise<FileFailure[]> {
  const errors: FileFailure[] = [];
  const limits = readLimits();
  for (const file of findFiles(patterns)) {
    const r = readOne(file, limits);
    if ('error' in r) {
      errors.push({ path: file, error: r.error });
      continue;
    }
    try {
      await use(r.snap);
    } catch (err) {
      errors.push({ path: file, error: asError(file, err) });
    }
  }
  return errors;
}

function asError(file: string, err: unknown): MmstatsError {
  return err instanceof MmstatsError ? err : new MmstatsError('ERR_MMSTATS_IO', String(err), { path: file, cause: err });
}
