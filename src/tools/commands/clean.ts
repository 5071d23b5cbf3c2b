/**
 * `mmstats clean` (alias `cleanstats`): remove the stats files whose writer is gone.
 *
 * Liveness, per format:
 * - v2: the writer holds a lock on its file for as long as it runs, so a held lock
 *   means alive whatever the pid says. Without the lock, the file is also kept when
 *   its pid runs with the writer's start token (belt and braces); a pid that runs
 *   with another start token is a reused pid, and the writer is gone.
 * - v1 (the original's files): as the original, alive when the `sys.pid` process
 *   exists and belongs to this user.
 *
 * Safety: a symbolic link is never followed or removed (lstat, then O_NOFOLLOW);
 * a file of another user is left alone unless `--all-users`; a file that is not a
 * readable mmstats file is never removed. A stale file is removed under the lock
 * its writer would hold, and only if the name still names the inode judged with
 * the same writer identity (`removeStaleFile`): a writer restarting under the same
 * name cannot take it over between the check and the unlink.
 */
import fs from 'node:fs';
import { isMmstatsError } from '../../errors.js';
import { FileFlags, Header } from '../../format/v2.js';
import { processStartToken } from '../../platform/identity.js';
import { StatsReader, findFiles, type WriterIdentity } from '../../reader/index.js';
import { removeStaleFile, type StaleRemoval } from '../../writer/storage.js';
import { Exit, PATH_OPTION, parse, readPatterns } from '../args.js';
import { Painter, guardPipes, sanitize, useColor, warn, write, type Style } from '../term.js';

/** One line for `mmstats --help`. */
export const summary = 'remove the stats files of writers that are gone';

const HELP = `Usage: mmstats clean [options] [PATH|GLOB...]
       cleanstats [options] [PATH|GLOB...]

Remove the stats files whose writer is gone, printing one line per file with the
decision and its reason, then "Removed N - M alive".

A v2 file is kept while its writer holds the file's lock, or while its pid runs
with the writer's start token; a pid now used by another process does not keep
it. A v1 file is kept while its sys.pid process exists and belongs to this user.
A file its writer never finished (it died while creating it: no lock held, its
pid gone) is removed too. Symbolic links, files that are not mmstats files and
unreadable files are never removed. Files that a writer asked to keep
(persistent) are kept unless --persistent is given. Files of other users are
kept unless --all-users is given. A file is removed under its writer's lock, so
a writer that restarts under the same name at that moment keeps its file.

Options:
  -n, --dry-run     say what would be removed; remove nothing
      --persistent  also remove persistent files whose writer is gone
      --all-users   also judge (and remove) files that belong to other users
      --path DIR    a stats directory, file or glob to clean (repeatable);
                    the same as a PATH argument
  -h, --help        show this help

Exit status: 0 done, 1 a file could not be removed, 2 usage error.
`;

/** What clean decided for one file. */
export type Verdict = 'alive' | 'stale' | 'keep';

/** A decision and why. */
export interface Decision {
  readonly verdict: Verdict;
  readonly reason: string;
}

function pidState(pid: number): 'ours' | 'other-user' | 'gone' {
  try {
    process.kill(pid, 0);
    return 'ours';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'other-user' : 'gone';
  }
}

/** Judge a v2 writer (see the module comment). */
export function judgeV2(w: WriterIdentity, persistent: boolean, removePersistent: boolean): Decision {
  if (w.alive) return { verdict: 'alive', reason: `writer pid ${w.pid} is alive (it holds the file's lock)` };
  const running = w.pid > 0 ? pidState(w.pid) : 'gone';
  const token = running === 'gone' ? undefined : processStartToken(w.pid);
  if (running !== 'gone' && token !== undefined && token === w.startToken) {
    return { verdict: 'alive', reason: `pid ${w.pid} runs with the writer's start token, though it holds no lock: kept to be safe` };
  }
  if (persistent && !removePersistent) {
    return { verdict: 'keep', reason: `persistent file of a writer that is gone (pid ${w.pid}); --persistent removes it` };
  }
  if (w.state === 'closed') return { verdict: 'stale', reason: `closed by its writer (pid ${w.pid}), which is gone` };
  if (running !== 'gone' && token !== undefined) {
    return { verdict: 'stale', reason: `pid ${w.pid} now belongs to another process (start token differs): the writer is gone` };
  }
  if (running !== 'gone') return { verdict: 'stale', reason: `pid ${w.pid} exists but holds no lock on the file: the writer is gone` };
  return { verdict: 'stale', reason: `writer pid ${w.pid} is gone` };
}

/** Judge a v1 writer as the original cleanstats did. */
export function judgeV1(w: WriterIdentity): Decision {
  if (w.pid <= 0) return { verdict: 'keep', reason: 'no sys.pid field: cannot tell its writer' };
  const s = pidState(w.pid);
  if (s === 'ours') return { verdict: 'alive', reason: `writer pid ${w.pid} is alive` };
  if (s === 'other-user') return { verdict: 'stale', reason: `pid ${w.pid} belongs to another user: not the writer` };
  return { verdict: 'stale', reason: `writer pid ${w.pid} is gone` };
}

const sameInode = (a: fs.Stats, b: fs.Stats) => a.dev === b.dev && a.ino === b.ino;

interface Outcome extends Decision {
  readonly action: 'removed' | 'would remove' | 'kept' | 'failed';
}

/** What `mmstats clean` may remove. */
interface CleanOptions {
  readonly dryRun: boolean;
  readonly removePersistent: boolean;
  /** Also judge files of other users (otherwise kept whatever their state). */
  readonly allUsers: boolean;
}

const kept = (reason: string): Outcome => ({ action: 'kept', verdict: 'keep', reason });

/** The bytes a stale file's writer identity lives in (v2 header; v1: the first fields, sys.pid among them). */
function head(fd: number): Buffer {
  const b = Buffer.alloc(Header.SIZE);
  return b.subarray(0, fs.readSync(fd, b, 0, Header.SIZE, 0));
}

/** Decide about one file and act on it (unless `dryRun`). Never throws. */
function cleanOne(file: string, opts: CleanOptions): Outcome | undefined {
  const C = fs.constants;
  let before: fs.Stats;
  try {
    before = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return kept(`cannot stat: ${(err as Error).message}`);
  }
  if (before.isSymbolicLink()) return kept('is a symbolic link: not followed');
  if (!before.isFile()) return kept('is not a regular file');
  const uid = process.getuid?.();
  if (uid !== undefined && before.uid !== uid && !opts.allUsers) {
    return kept(`belongs to uid ${before.uid}, not to you: --all-users judges other users' files too`);
  }
  let fd: number;
  try {
    fd = fs.openSync(file, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return undefined;
    if (e.code === 'ELOOP') return kept('became a symbolic link: not followed');
    return kept(`cannot open: ${e.message}`);
  }
  let reader: StatsReader | undefined;
  try {
    const held = fs.fstatSync(fd);
    if (!held.isFile() || !sameInode(held, before)) return kept('changed while it was checked');
    const judged = head(fd);
    let decision: Decision;
    try {
      reader = StatsReader.open(file);
      // The reader opened the name again: make sure it read the inode held here.
      if (!sameInode(fs.lstatSync(file), held)) return kept('changed while it was checked');
      const w = reader.writer();
      const persistent = judged.length >= Header.SIZE && (judged.readUInt32LE(Header.FLAGS) & FileFlags.PERSISTENT) !== 0;
      decision = reader.format === 1 ? judgeV1(w) : judgeV2(w, persistent, opts.removePersistent);
    } catch (err) {
      if (isMmstatsError(err, 'ERR_MMSTATS_NOT_STATS')) return kept('not an mmstats file');
      if (isMmstatsError(err, 'ERR_MMSTATS_INITIALISING')) return kept('still being created by its writer');
      if (!isMmstatsError(err, 'ERR_MMSTATS_ABANDONED')) {
        const msg = isMmstatsError(err) ? `${err.code}: ${err.message.replace(`${file}: `, '')}` : String(err);
        return kept(`unreadable, not removed (${msg})`);
      }
      decision = { verdict: 'stale', reason: err.message.replace(`${file}: `, '') };
    }
    if (decision.verdict !== 'stale') return { ...decision, action: 'kept' };
    if (opts.dryRun) return { ...decision, action: 'would remove' };
    const removed = removeStaleFile(file, held, judged);
    if (removed === true) return { ...decision, action: 'removed' };
    return removed === 'gone'
      ? undefined
      : { action: 'kept', verdict: removed === 'taken' ? 'alive' : 'keep', reason: REMOVAL_REFUSED[removed] };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return undefined;
    return { action: 'failed', verdict: 'stale', reason: `cannot remove: ${e.message}` };
  } finally {
    reader?.close();
    fs.closeSync(fd);
  }
}

/** Why a stale file was not removed after all. */
const REMOVAL_REFUSED: Record<Exclude<StaleRemoval, true | 'gone'>, string> = {
  taken: 'a writer took the file over while it was checked',
  changed: 'changed while it was checked',
  locked: 'stale, but you cannot take its lock (no write permission) to remove it safely',
};

const STYLE: Record<Outcome['action'], Style> = { removed: 'yellow', 'would remove': 'yellow', kept: 'green', failed: 'red' };

/** Run `mmstats clean`. */
export async function run(argv: string[]): Promise<number> {
  guardPipes();
  const { values: opts, positionals } = parse(argv, {
    'dry-run': { type: 'boolean', short: 'n' },
    persistent: { type: 'boolean' },
    'all-users': { type: 'boolean' },
    ...PATH_OPTION,
  });
  if (opts.help) {
    await write(HELP);
    return Exit.OK;
  }
  const dryRun = opts['dry-run'] === true;
  const paint = new Painter(useColor(process.stdout));
  let removed = 0;
  let alive = 0;
  let failed = 0;
  for (const file of findFiles(readPatterns(opts, positionals))) {
    const o = cleanOne(file, { dryRun, removePersistent: opts.persistent === true, allUsers: opts['all-users'] === true });
    if (!o) continue;
    if (o.action === 'removed' || o.action === 'would remove') removed++;
    if (o.verdict === 'alive') alive++;
    const line = `${paint.paint(STYLE[o.action], o.action.padEnd(12))} ${sanitize(file)}: ${o.reason}`;
    if (o.action === 'failed') {
      failed++;
      warn(line);
    } else await write(line + '\n');
  }
  await write(dryRun ? `Would remove ${removed} - ${alive} alive\n` : `Removed ${removed} - ${alive} alive\n`);
  return failed > 0 ? Exit.FAILURE : Exit.OK;
}
