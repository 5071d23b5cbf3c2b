/**
 * Finding stats files: from directories, globs or plain paths (default
 * MMSTATS_GLOB), and reading many at once with failures kept apart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MmstatsError } from '../errors.js';
import { defaultGlobs } from '../platform/paths.js';
import { compileGlob } from './glob.js';
import { StatsReader, type Snapshot } from './reader.js';

const GLOB_CHARS = /[*?[]/;

/**
 * Expand patterns into stats file paths, sorted. A directory means `DIR/*.mmstats`;
 * a glob may use `*`, `?` and `[...]` in its last path component; a plain path is
 * kept as is. With no patterns, the default glob (MMSTATS_GLOB) is used.
 */
export function findFiles(patterns: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): string[] {
  const list = patterns.length > 0 ? patterns : defaultGlobs(env);
  const out = new Set<string>();
  for (const pattern of list) {
    let dir: string;
    let base: string;
    let isDir: boolean;
    try {
      isDir = !GLOB_CHARS.test(pattern) && fs.statSync(pattern).isDirectory();
    } catch {
      isDir = false;
    }
    if (isDir) {
      dir = pattern;
      base = '*.mmstats';
    } else if (GLOB_CHARS.test(path.basename(pattern))) {
      dir = path.dirname(pattern);
      base = path.basename(pattern);
    } else {
      out.add(pattern);
      continue;
    }
    const re = compileGlob(base);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) if (re.test(name)) out.add(path.join(dir, name));
  }
  return [...out].sort();
}

/** Snapshots of many files, and the files that failed with why. */
export interface ReadAllResult {
  readonly snapshots: Snapshot[];
  readonly errors: { readonly path: string; readonly error: MmstatsError }[];
}

/** Open, read and close every file the patterns find; a bad file never stops the rest. */
export function readAll(patterns: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): ReadAllResult {
  const result: ReadAllResult = { snapshots: [], errors: [] };
  for (const file of findFiles(patterns, env)) {
    let reader: StatsReader | undefined;
    try {
      reader = StatsReader.open(file);
      result.snapshots.push(reader.read());
    } catch (err) {
      const error = err instanceof MmstatsError ? err : new MmstatsError('ERR_MMSTATS_IO', String(err), { path: file, cause: err });
      result.errors.push({ path: file, error });
    } finally {
      reader?.close();
    }
  }
  return result;
}
