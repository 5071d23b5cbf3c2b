/**
 * Test helper: a Prometheus text exposition as families (HELP, TYPE, samples), to
 * compare two expositions by meaning rather than by bytes (order of families and
 * of label pairs aside).
 */
import assert from 'node:assert/strict';

/** One metric family of an exposition. */
export interface Family {
  help?: string;
  type?: string;
  /** Each sample as `name{labels sorted}` to its value. */
  samples: Map<string, number>;
}

/**
 * Parse an exposition. `strip` names labels every sample must carry with that value
 * (a server's writer labels), checked and then dropped; families named in `unlabelled`
 * are exempt from the check (a server's own series).
 */
export function parseExposition(text: string, strip: Record<string, string> = {}, unlabelled: readonly string[] = []): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { samples: new Map() }));
    return f;
  };
  let current = '';
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      current = meta[2]!;
      if (meta[1] === 'HELP') family(current).help = meta[3];
      else family(current).type = meta[3];
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!] as const);
    if (!unlabelled.includes(current)) {
      for (const [k, v] of Object.entries(strip)) assert.equal(labels.find(([name]) => name === k)?.[1], v, `${line}: label ${k}`);
    }
    const kept = labels
      .filter(([k]) => !(k in strip))
      .map(([k, v]) => `${k}="${v}"`)
      .sort();
    family(current).samples.set(`${m[1]}{${kept.join(',')}}`, Number(m[3]));
  }
  return families;
}
