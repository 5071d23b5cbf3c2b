/**
 * Field selectors of the command line: `name`, or `name{label="value",other!="x"}`
 * as in PromQL, to pick a labelled family's children (`mmstats poll`).
 *
 * Parsed by one pass over the characters: no regular expression, so no input can
 * make the parser backtrack.
 */
import { UsageError } from './args.js';

/** One label matcher of a selector. */
export interface LabelMatcher {
  readonly name: string;
  readonly value: string;
  /** `!=`: the label must not have the value (a missing label counts as ""). */
  readonly negated: boolean;
}

/** A parsed selector. */
export interface Selector {
  /** As written (after the prefix). */
  readonly text: string;
  /** The field or family name. */
  readonly name: string;
  readonly matchers: readonly LabelMatcher[];
  /** True when written with braces: it selects a family's children only. */
  readonly braces: boolean;
}

const isNameStart = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
const isNameChar = (c: string) => isNameStart(c) || (c >= '0' && c <= '9');

/**
 * Split a comma-separated list of selectors, keeping the commas inside braces and
 * quotes: `a,b{x="1",y="2"}` is two selectors.
 */
export function splitSelectors(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '{') depth++;
    else if (c === '}') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      out.push(list.slice(start, i));
      start = i + 1;
    }
  }
  out.push(list.slice(start));
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/** Parse `name` or `name{label="value",...}`; a UsageError says what is wrong and where. */
export function parseSelector(text: string): Selector {
  const fail = (why: string, at: number): never => {
    throw new UsageError(`selector ${JSON.stringify(text)}: ${why} at character ${at + 1}`);
  };
  const open = text.indexOf('{');
  const name = (open < 0 ? text : text.slice(0, open)).trim();
  if (name === '') fail('a field name is needed before "{"', 0);
  if (open < 0) return { text, name, matchers: [], braces: false };
  const matchers: LabelMatcher[] = [];
  let i = open + 1;
  const skipSpace = () => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  for (;;) {
    skipSpace();
    if (text[i] === '}') break;
    const from = i;
    if (i >= text.length || !isNameStart(text[i]!)) fail('expected a label name', i);
    while (i < text.length && isNameChar(text[i]!)) i++;
    const label = text.slice(from, i);
    skipSpace();
    let negated = false;
    if (text[i] === '!' && text[i + 1] === '=') {
      negated = true;
      i += 2;
    } else if (text[i] === '=') i++;
    else fail('expected = or != after the label name', i);
    skipSpace();
    if (text[i] !== '"') fail('expected a value in double quotes', i);
    i++;
    let value = '';
    for (;;) {
      if (i >= text.length) fail('the value has no closing quote', i);
      const c = text[i++]!;
      if (c === '"') break;
      if (c !== '\\') {
        value += c;
        continue;
      }
      const e = text[i++];
      if (e === 'n') value += '\n';
      else if (e === '\\' || e === '"') value += e;
      else fail('unknown escape (use \\\\, \\" or \\n)', i - 2);
    }
    matchers.push({ name: label, value, negated });
    skipSpace();
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] !== '}') fail('expected , or }', i);
  }
  if (text.slice(i + 1).trim() !== '') fail('nothing may follow "}"', i + 1);
  return { text, name, matchers, braces: true };
}

/** True if a child's labels satisfy every matcher (a label the child lacks is ""). */
export function matchesLabels(sel: Selector, labels: Readonly<Record<string, string>>): boolean {
  for (const m of sel.matchers) {
    const v = Object.hasOwn(labels, m.name) ? labels[m.name]! : '';
    if ((v === m.value) === m.negated) return false;
  }
  return true;
}
