/**
 * Who a process is: its pid plus a start token that tells a reused pid apart.
 * Used by the writer to stamp its file and by readers to judge liveness.
 */
import { readFileSync } from 'node:fs';

let bootTimeMs: number | undefined;
/** This process's own token: it cannot change while the process runs, and a writer stamps it into every file it opens. */
let ownToken: number | undefined;

/** The start token of this process (see processStartToken), read once. */
export function ownStartToken(): number | undefined {
  ownToken ??= processStartToken(process.pid);
  return ownToken;
}

/**
 * The start token of process `pid`, or undefined if the process does not exist
 * or this platform cannot tell. On Linux it is the process start time in clock
 * ticks since boot (field 22 of /proc/PID/stat): two processes that share a pid
 * never share it.
 */
export function processStartToken(pid: number): number | undefined {
  if (process.platform !== 'linux') {
    return pid === process.pid ? ownStartMs() : undefined;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

function ownStartMs(): number {
  bootTimeMs ??= Math.round(Date.now() - process.uptime() * 1000);
  return bootTimeMs;
}

/** True if a process with this pid exists (it may belong to another user). */
export function processExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the process that wrote `pid` and `startToken` still runs: the pid exists
 * and, where the platform gives a token, the token matches (a reused pid does not).
 */
export function processAlive(pid: number, startToken: number): boolean {
  if (!processExists(pid)) return false;
  const now = processStartToken(pid);
  return now === undefined || startToken === 0 || now === startToken;
}
