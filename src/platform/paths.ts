/**
 * Where stats files live, and the safety checks on those places. Shared by the
 * writer (which creates them) and the readers (which search them).
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { MmstatsError } from '../errors.js';

/** The file name template used when neither the option nor MMSTATS_FILES sets one. */
export const DEFAULT_FILENAME = '{CMD}-{CLASS}-{PID}-{TID}.mmstats';

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'user');
  }
}

/**
 * The default stats directory: `mmstats-<user>` on a memory file system when the
 * machine has one (/dev/shm, else $XDG_RUNTIME_DIR), so that disk write-back can
 * never stall a writer; else in the OS temp dir. MMSTATS_PATH overrides it.
 */
export function defaultStatsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MMSTATS_PATH) return env.MMSTATS_PATH;
  const name = `mmstats-${userName()}`;
  for (const base of ['/dev/shm', env.XDG_RUNTIME_DIR]) {
    if (base && isWritableDir(base)) return path.join(base, name);
  }
  return path.join(os.tmpdir(), name);
}

function isWritableDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The reader's default glob: MMSTATS_GLOB, else `<stats dir>/*.mmstats`. */
export function defaultGlob(env: NodeJS.ProcessEnv = process.env): string {
  return env.MMSTATS_GLOB || path.join(defaultStatsDir(env), '*.mmstats');
}

/** Values for the file name template. */
export interface TemplateValues {
  readonly cmd: string;
  readonly pid: number;
  readonly tid: number;
  readonly className: string;
}

/**
 * The main script of the process. A worker thread's `process.argv` names the
 * worker's own script (or `[worker eval]`), so there the process's real command
 * line is read instead: every thread of a program shares one {CMD}.
 */
function mainScript(): string | undefined {
  if (isMainThread || process.platform !== 'linux') return process.argv[1];
  try {
    const argv = readFileSync('/proc/self/cmdline', 'utf8').split('\0');
    // argv = node, its options (the worker inherits them as execArgv), script, ...
    return argv[1 + process.execArgv.length] || process.argv[1];
  } catch {
    return process.argv[1];
  }
}

/** The program's base name, as the original's {CMD}; the same in every thread. */
export function commandName(): string {
  const script = mainScript();
  const base = path.basename(script ?? process.argv0).replace(/\.[cm]?[jt]s$/, '');
  return base.replace(/[^A-Za-z0-9._-]/g, '_') || 'node';
}

/** Expand `{CMD}`, `{PID}`, `{TID}` and `{CLASS}` in a file name template. */
export function expandTemplate(template: string, v: TemplateValues): string {
  const out = template
    .replaceAll('{CMD}', v.cmd)
    .replaceAll('{PID}', String(v.pid))
    .replaceAll('{TID}', String(v.tid))
    .replaceAll('{CLASS}', v.className.replace(/[^A-Za-z0-9._-]/g, '_'));
  if (out === '' || out.includes('/') || out === '.' || out === '..' || out.includes('\0')) {
    throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', `file name ${JSON.stringify(out)} must be a plain name, not a path`);
  }
  return out;
}

/**
 * Check that `dir` is safe to hold stats: a real directory (not a symlink), owned by
 * this user, not writable by group or others. With `create`, make it (mode 0700)
 * when it is missing. Throws ERR_MMSTATS_UNSAFE_PATH naming the problem.
 */
export function ensureSafeDir(dir: string, create: boolean): void {
  if (create && !existsSync(dir)) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new MmstatsError('ERR_MMSTATS_IO', `cannot create stats directory: ${(err as Error).message}`, { path: dir, cause: err });
    }
  }
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    throw new MmstatsError('ERR_MMSTATS_IO', `stats directory is missing: ${(err as Error).message}`, { path: dir, cause: err });
  }
  if (st.isSymbolicLink()) throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', 'stats directory is a symbolic link', { path: dir });
  if (!st.isDirectory()) throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', 'stats path is not a directory', { path: dir });
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new MmstatsError('ERR_MMSTATS_UNSAFE_PATH', `stats directory belongs to uid ${st.uid}, not to this user (uid ${uid})`, {
      path: dir,
    });
  }
  if ((st.mode & 0o022) !== 0) {
    throw new MmstatsError(
      'ERR_MMSTATS_UNSAFE_PATH',
      `stats directory is writable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod go-w it`,
      { path: dir },
    );
  }
}
