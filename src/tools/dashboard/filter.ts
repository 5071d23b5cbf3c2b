/**
 * The dashboard's filter: a label prefix, optionally followed by a label
 * selector that picks label sets of families, as in PromQL:
 * `http.server.requests{method="GET", status!="200"}` or `{route=/users/*}`.
 * Values may be quoted; `*` in a value matches any run of characters. With a
 * selector, only family children whose labels match are shown. Pure functions,
 * shared with the tests.
 */

/** One condition of a selector. */
export interface LabelMatcher {
  readonly name: string;
  readonly value: string;
  /** `!=`: the label must not match. */
  readonly negate: boolean;
}

/** A parsed filter. */
export interface Filter {
  readonly prefix: string;
  /** Undefined without braces: every field, labelled or not. */
  readonly labels?: readonly LabelMatcher[];
}

/** Parse the filter box's text; a selector that does not parse selects nothing it cannot read (its conditions that parse still apply). */
export function parseFilter(text: string): Filter {
  const open = text.indexOf('{');
  if (open < 0) return { prefix: text.trim() };
  const close = text.lastIndexOf('}');
  const inner = text.slice(open + 1, close > open ? close : undefined);
  const labels: LabelMatcher[] = [];
  // name op value, value quoted or bare (up to the next comma).
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*))\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < inner.length && (m = re.exec(inner)) !== null) {
    const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[4]!.trim();
    labels.push({ name: m[1]!, value, negate: m[2] === '!=' });
  }
  return { prefix: text.slice(0, open).trim(), labels };
}

/** Does a field's label set satisfy the selector (every condition)? */
export function labelsMatch(labels: Readonly<Record<string, string>> | undefined, matchers: readonly LabelMatcher[]): boolean {
  if (!labels) return false;
  return matchers.every((m) => {
    const v = labels[m.name];
    const hit = v !== undefined && globMatch(m.value, v);
    return m.negate ? !hit : hit;
  });
}

function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const parts = pattern.split('*');
  if (!value.startsWith(parts[0]!) || !value.endsWith(parts[parts.length - 1]!)) return false;
  let at = parts[0]!.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = value.indexOf(parts[i]!, at);
    if (found < 0) return false;
    at = found + parts[i]!.length;
  }
  return at <= value.length - parts[parts.length - 1]!.length;
}
