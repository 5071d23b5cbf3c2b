/**
 * Resource limits of this process that decide how much a reader may hold open.
 */
import { readFileSync } from 'node:fs';

/**
 * The soft limit on this process's open file descriptors (`RLIMIT_NOFILE`), as
 * it is now: Node.js raises it to the hard limit at start-up, so this is what the
 * process really has, not the shell's `ulimit -n`. `Infinity` when unlimited;
 * undefined where it cannot be read (Linux reads `/proc/self/limits`).
 *
 * @param limitsText - The text of `/proc/self/limits` (read from the system when omitted).
 */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'latin1');
    } catch {
      return undefined;
    }
  }
  // "Max open files            20000                20000                files"
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return undefined;
  if (m[1] === 'unlimited') return Infinity;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
