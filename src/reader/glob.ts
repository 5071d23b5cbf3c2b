/**
 * File-name globs (`*`, `?`, `[...]`, `[!...]`) matched in time linear in the
 * name, whatever the pattern.
 *
 * A glob compiled to a regular expression backtracks: `*?*?*?*?*?*?*?*?*?*?Z`
 * over a 40-character name takes seconds, and each further `*?` multiplies that
 * (picomatch 4 compiles to such an expression too). Globs reach us from HTTP
 * requests and command lines, so they are matched here by a small automaton
 * instead: the set of pattern positions reached so far is kept as a bit set and
 * advanced once per character of the name, never revisiting a character. Cost:
 * (name length) x (pattern length / 32) word operations.
 */

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const BANG = 0x21;
const DASH = 0x2d;
const SLASH = 0x2f;

/** A compiled glob: `test(name)` says whether a whole file name matches. */
export interface Glob {
  test(name: string): boolean;
}

type CharTest = (cp: number) => boolean;

const anyButSlash: CharTest = (cp) => cp !== SLASH;

/** A `[...]` body (code points between the brackets): single characters and `a-z` ranges, `!` first negates. */
function charClass(body: readonly number[]): CharTest {
  const negate = body[0] === BANG;
  const ranges: number[] = [];
  for (let j = negate ? 1 : 0; j < body.length; j++) {
    const lo = body[j]!;
    if (body[j + 1] === DASH && j + 2 < body.length) {
      ranges.push(lo, body[j + 2]!);
      j += 2;
    } else ranges.push(lo, lo);
  }
  return (cp) => {
    if (cp === SLASH) return false;
    let inside = false;
    for (let k = 0; k < ranges.length && !inside; k += 2) inside = cp >= ranges[k]! && cp <= ranges[k + 1]!;
    return inside !== negate;
  };
}

/** Distinct characters whose position masks a compiled glob remembers (names use few). */
const MASK_CACHE_LIMIT = 4096;

/**
 * Compile a file-name glob. `*` matches any run of characters but `/`, `?` one
 * character but `/`, `[abc]`, `[a-z]` one of those, `[!abc]` one not of those;
 * a `[` without a closing `]` is literal, as is every other character.
 */
export function compileGlob(glob: string): Glob {
  const cps = Array.from(glob, (c) => c.codePointAt(0)!);
  // tokens[i] matches the (i+1)-th character; loops[i]: a `*` after i tokens lets state i stay on any character.
  const tokens: CharTest[] = [];
  const loops: boolean[] = [false];
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if (c === STAR) {
      loops[tokens.length] = true;
      continue;
    }
    let t: CharTest;
    if (c === QUESTION) t = anyButSlash;
    else if (c === OPEN && cps.indexOf(CLOSE, i + 2) > 0) {
      const end = cps.indexOf(CLOSE, i + 2);
      t = charClass(cps.slice(i + 1, end));
      i = end;
    } else t = (cp) => cp === c;
    tokens.push(t);
    loops.push(false);
  }
  const states = tokens.length + 1;
  const words = (states + 31) >>> 5;
  const loopMask = new Uint32Array(words);
  for (let i = 0; i < states; i++) if (loops[i]) loopMask[i >>> 5]! |= 1 << (i & 31);
  const accept = tokens.length;
  const masks = new Map<number, Uint32Array>();
  // Bit i+1 of a character's mask: token i matches it, so state i may advance to i+1.
  const maskOf = (cp: number): Uint32Array => {
    let m = masks.get(cp);
    if (m === undefined) {
      m = new Uint32Array(words);
      for (let i = 0; i < tokens.length; i++) if (tokens[i]!(cp)) m[(i + 1) >>> 5]! |= 1 << ((i + 1) & 31);
      if (masks.size >= MASK_CACHE_LIMIT) masks.clear();
      masks.set(cp, m);
    }
    return m;
  };
  let cur = new Uint32Array(words);
  let next = new Uint32Array(words);
  return {
    test(name: string): boolean {
      cur.fill(0);
      cur[0] = 1;
      for (let i = 0; i < name.length;) {
        const cp = name.codePointAt(i)!;
        i += cp > 0xffff ? 2 : 1;
        const mask = maskOf(cp);
        const stay = cp !== SLASH;
        let carry = 0;
        let any = 0;
        for (let w = 0; w < words; w++) {
          const c = cur[w]!;
          let n = ((c << 1) | carry) & mask[w]!;
          if (stay) n |= c & loopMask[w]!;
          carry = c >>> 31;
          next[w] = n;
          any |= n;
        }
        if (any === 0) return false;
        const t = cur;
        cur = next;
        next = t;
      }
      return (cur[accept >>> 5]! & (1 << (accept & 31))) !== 0;
    },
  };
}
