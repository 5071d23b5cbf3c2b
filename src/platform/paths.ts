/**
 * Where stats files live, and the safety checks on those places. Shared by the
 * writer (which creates them) and the readers (which search them).
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
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

/** The name of the per-user stats directory. */
function perUserName(): string {
  return `mmstats-${userName()}`;
}

/** Where the per-user directory goes: a memory file system when the machine has one (/dev/shm, else $XDG_RUNTIME_DIR), else the OS temp dir. */
function statsBase(env: NodeJS.ProcessEnv): string {
  for (const base of ['/dev/shm', env.XDG_RUNTIME_DIR]) {
    if (base && isWritableDir(base)) return base;
  }
  return os.tmpdir();
}

/**
 * Why `dir` cannot hold this user's stats (the checks of `ensureSafeDir`), or
 * undefined when it can or does not exist yet.
 */
function unsafeBecause(dir: string): string | undefined {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return undefined;
  }
  if (st.isSymbolicLink()) return 'it is a symbolic link';
  if (!st.isDirectory()) return 'it is not a directory';
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `it belongs to uid ${st.uid}`;
  if ((st.mode & 0o022) !== 0) return `it is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/** True when `dir` exists and can hold this user's stats. */
function isSafeDir(dir: string): boolean {
  return existsSync(dir) && unsafeBecause(dir) === undefined;
}

/** `$XDG_RUNTIME_DIR/mmstats-<user>` when that runtime directory is private to this user (systemd makes it 0700). */
function runtimeFallback(env: NodeJS.ProcessEnv, primary: string): string | undefined {
  const xdg = env.XDG_RUNTIME_DIR;
  if (!xdg || !path.isAbsolute(xdg)) return undefined;
  try {
    const st = lstatSync(xdg);
    const uid = process.getuid?.();
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) return undefined;
  } catch {
    return undefined;
  }
  const dir = path.join(xdg, perUserName());
  return dir === primary ? undefined : dir;
}

/** Private fallback directories of this user in `base`: `mmstats-<user>.XXXXXX`, made by mkdtemp, owned by this user, 0700. */
function privateFallbacks(base: string): string[] {
  const prefix = `${perUserName()}.`;
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && /^[A-Za-z0-9]{6}$/.test(n.slice(prefix.length)))
    .map((n) => path.join(base, n))
    .filter(isSafeDir)
    .sort();
}

/**
 * The default stats directory: `mmstats-<user>` on a memory file system when the
 * machine has one (/dev/shm, else $XDG_RUNTIME_DIR), so that disk write-back can
 * never stall a writer; else in the OS temp dir. MMSTATS_PATH overrides it.
 *
 * If another user made that name first (a directory, a symlink, any file: anyone
 * can create names in /dev/shm), it is refused, and the stats go to a fallback
 * this user owns: `$XDG_RUNTIME_DIR/mmstats-<user>` when the runtime directory is
 * private to the user, else a directory `mmstats-<user>.XXXXXX` beside it whose
 * name cannot be guessed ahead (mkdtemp, mode 0700). This function does not create
 * the fallback; a writer does (see `writerStatsDir`), and readers find it with
 * `defaultStatsDirs`.
 */
export function defaultStatsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MMSTATS_PATH) return env.MMSTATS_PATH;
  const base = statsBase(env);
  const primary = path.join(base, perUserName());
  if (unsafeBecause(primary) === undefined) return primary;
  return runtimeFallback(env, primary) ?? privateFallbacks(base)[0] ?? primary;
}

let warnedFallback = false;

/**
 * The directory a writer uses by default: `defaultStatsDir`, and when its
 * per-user directory is unsafe, a fallback made now if none exists yet. Warns
 * once per process that the stats went elsewhere.
 */
export function writerStatsDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = defaultStatsDir(env);
  if (env.MMSTATS_PATH) return dir;
  const base = statsBase(env);
  const primary = path.join(base, perUserName());
  const why = unsafeBecause(primary);
  if (why === undefined) return dir;
  let chosen = dir;
  if (chosen === primary) {
    try {
      chosen = mkdtempSync(path.join(base, `${perUserName()}.`)); // mode 0700
    } catch (err) {
      throw new MmstatsError('ERR_MMSTATS_IO', `cannot create a private stats directory: ${(err as Error).message}`, {
        path: base,
        cause: err,
      });
    }
  }
  if (!warnedFallback) {
    warnedFallback = true;
    process.emitWarning(`mmstats: ${primary} is refused (${why}); stats go to ${chosen} instead`, {
      code: 'MMSTATS_DIR_FALLBACK',
      detail: 'Another user may have made that name first. Readers of this user find the fallback by themselves.',
    });
  }
  return chosen;
}

/**
 * Every directory where this user's stats may be by default, for readers: the
 * per-user directory when it is safe, and the fallbacks writers may have used
 * when it was not (each a directory of this user that no one else can write).
 * A directory another user made is never read: it could hold anything.
 * MMSTATS_PATH (a list separated by `:`) overrides it.
 */
export function defaultStatsDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.MMSTATS_PATH) return env.MMSTATS_PATH.split(':').filter((p) => p !== '');
  const base = statsBase(env);
  const primary = path.join(base, perUserName());
  const dirs = [primary, runtimeFallback(env, primary), ...privateFallbacks(base)].filter(
    (d): d is string => d !== undefined && isSafeDir(d),
  );
  return dirs.length > 0 ? dirs : [defaultStatsDir(env)];
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

/** The reader's default globs: MMSTATS_GLOB, else `*.mmstats` in each of `defaultStatsDirs`. */
export function defaultGlobs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.MMSTATS_GLOB) return [env.MMSTATS_GLOB];
  return defaultStatsDirs(env).map((d) => path.join(d, '*.mmstats'));
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
