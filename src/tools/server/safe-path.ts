/**
 * Keeping HTTP input inside the stats directories.
 *
 * Every name or glob that comes from a request is checked here before it touches
 * the file system. The rules are deliberately narrow: stats files live directly in
 * a stats directory, so a request may only name a plain file name (or a glob over
 * file names), never a path. `..`, absolute paths, separators (`/` and `\`), NUL
 * bytes and control characters are refused whatever their encoding, because the
 * checks run on the decoded text; symbolic links are never followed.
 */
import fs from 'node:fs';
import path from 'node:path';

/** A request input that was refused: the server answers 400 with `message`. */
export class UnsafeInput extends Error {
  override name = 'UnsafeInput';
}

/** Longest name or glob accepted (a file name is at most 255 bytes on Linux and macOS). */
export const MAX_NAME_LENGTH = 255;

/**
 * Split a raw request path (as on the request line, still percent-encoded) into
 * decoded segments. Refuses a segment that is `.` or `..`, or that decodes to text
 * holding `/`, `\`, NUL or another control character, or that is not valid
 * percent-encoded UTF-8: these are the encoded forms of a path escape.
 */
export function decodeSegments(rawPath: string): string[] {
  if (!rawPath.startsWith('/')) throw new UnsafeInput('request path must start with /');
  if (rawPath.includes('\\')) throw new UnsafeInput('request path holds a backslash');
  const out: string[] = [];
  for (const raw of rawPath.split('/').slice(1)) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw new UnsafeInput(`request path segment ${JSON.stringify(raw)} is not valid percent-encoded UTF-8`);
    }
    checkText(seg, 'request path segment');
    if (seg === '.' || seg === '..') throw new UnsafeInput('request path holds a "." or ".." segment');
    if (seg.includes('/')) throw new UnsafeInput('request path segment holds an encoded "/"');
    out.push(seg);
  }
  return out;
}

function checkText(s: string, what: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new UnsafeInput(`${what} holds a NUL or control character`);
  if (s.includes('\\')) throw new UnsafeInput(`${what} holds a backslash`);
}

/**
 * Check a file name or glob from a request: a plain name (with `*`, `?`, `[...]`
 * allowed when `glob`), never a path. Returns it unchanged; throws UnsafeInput.
 */
export function checkName(name: string, what = 'name'): string {
  if (name.length === 0) throw new UnsafeInput(`${what} is empty`);
  if (name.length > MAX_NAME_LENGTH) throw new UnsafeInput(`${what} is longer than ${MAX_NAME_LENGTH} characters`);
  checkText(name, what);
  if (name.includes('/')) throw new UnsafeInput(`${what} ${JSON.stringify(name)} must be a file name, not a path`);
  if (name === '.' || name === '..' || name.includes('..')) throw new UnsafeInput(`${what} ${JSON.stringify(name)} holds ".."`);
  return name;
}

/** Glob matching is the reader's (src/reader/glob.ts, linear time); re-exported for the server's modules. */
export { compileGlob, type Glob } from '../../reader/glob.js';

/**
 * Resolve a file name inside one of `dirs` (real paths) to an existing regular
 * file, or undefined. A symbolic link is never followed, wherever it points; a
 * file whose real directory is not the stats directory (a bind or a race) is
 * refused too.
 */
export function resolveInside(dirs: readonly string[], name: string): string | undefined {
  checkName(name, 'file name');
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (path.dirname(candidate) !== dir) continue;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(candidate);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    try {
      if (path.dirname(fs.realpathSync(candidate)) !== dir) continue;
    } catch {
      continue;
    }
    return candidate;
  }
  return undefined;
}
