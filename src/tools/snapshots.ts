/**
 * Reading many stats files for the live commands one file at a time: each snapshot
 * is handed over (and can be cut down) before the next file is read, so that a
 * directory of files with large histograms is never held in memory all at once.
 */
import { MmstatsError } from '../errors.js';
import { StatsReader, findFiles, type Snapshot } from '../reader/index.js';

/** The snapshots kept by `pick`, and the files that could not be read. */
export interface Collected<T> {
  readonly items: T[];
  readonly errors: { readonly path: string; readonly error: MmstatsError }[];
}

/**
 * Read every file the patterns find (default MMSTATS_GLOB), passing each snapshot
 * to `pick`; what it returns (unless undefined) is kept. A bad file never stops the rest.
 */
export function collect<T>(patterns: readonly string[], pick: (snap: Snapshot) => T | undefined): Collected<T> {
  const out: Collected<T> = { items: [], errors: [] };
  for (const file of findFiles(patterns)) {
    let reader: StatsReader | undefined;
    let snap: Snapshot;
    try {
      reader = StatsReader.open(file);
      snap = reader.read();
    } catch (err) {
      out.errors.push({ path: file, error: asError(file, err) });
      continue;
    } finally {
      reader?.close();
    }
    // A file that cannot be shown (whatever the reason) is that file's error, never the end of the others.
    let item: T | undefined;
    try {
      item = pick(snap);
    } catch (err) {
      out.errors.push({ path: file, error: asError(file, err) });
      continue;
    }
    if (item !== undefined) out.items.push(item);
  }
  return out;
}

function asError(file: string, err: unknown): MmstatsError {
  return err instanceof MmstatsError ? err : new MmstatsError('ERR_MMSTATS_IO', String(err), { path: file, cause: err });
}
