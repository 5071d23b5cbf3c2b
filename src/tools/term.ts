/**
 * Terminal output for the command-line tools: colour only on a terminal and never
 * when NO_COLOR is set (https://no-color.org), output that ends quietly when the
 * reader of a pipe goes away (`mmstats slurp | head`), and value formatting shared
 * by the commands.
 */
import { maxOf, minOf } from '../reader/aggregate.js';
import type { HistogramValue, Value } from '../reader/index.js';

/** Whether to colour output written to `stream`. */
export function useColor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

/** SGR codes by name. */
const SGR = {
  bold: '1',
  dim: '2',
  red: '31',
  green: '32',
  yellow: '33',
  blue: '34',
  magenta: '35',
  cyan: '36',
  inverse: '7',
} as const;

/** A colour name understood by {@link Painter}. */
export type Style = keyof typeof SGR;

/** Wraps text in ANSI colours, or leaves it alone when colour is off. */
export class Painter {
  constructor(readonly enabled: boolean) {}

  /** `text` in `style`, or `text` itself when colour is off. */
  paint(style: Style | undefined, text: string): string {
    return this.enabled && style ? `\x1b[${SGR[style]}m${text}\x1b[0m` : text;
  }
}

let pipeGuarded = false;

/**
 * Make a closed stdout or stderr end the process quietly with status 0 instead of
 * an EPIPE stack trace, as `cat` and the original tools do.
 */
export function guardPipes(): void {
  if (pipeGuarded) return;
  pipeGuarded = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
  }
}

/**
 * Write `text` to stdout and resolve once it is handed to the OS, so that a long
 * output into a slow pipe does not pile up in memory.
 */
export function write(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', resolve);
  });
}

/** Print one diagnostic line on stderr. */
export function warn(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}

/** A number for people: integers as they are, others with up to 6 significant digits. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n) || !Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  // Large values such as Unix times keep their integer digits and milliseconds.
  if (abs >= 1e6 && abs < 1e15) return String(Number(n.toFixed(3)));
  if (abs >= 1e15 || abs < 1e-4) return n.toExponential(5).replace(/\.?0+e/, 'e');
  return String(Number(n.toPrecision(6)));
}

/** A histogram's summary in one line. `percentiles` maps names such as p50 to values. */
export function formatHistogram(h: HistogramValue, percentiles: Readonly<Record<string, number | null>>): string {
  const parts = [`count=${formatNumber(h.count)}`, `sum=${formatNumber(h.sum)}`];
  if (h.count > 0) parts.push(`min=${formatNumber(h.min)}`, `max=${formatNumber(h.max)}`);
  for (const [name, v] of Object.entries(percentiles)) parts.push(`${name}=${v === null ? '-' : formatNumber(v)}`);
  return parts.join(' ');
}

/** True for a HistogramValue as the reader returns it. */
export function isHistogram(v: Value | unknown): v is HistogramValue {
  return typeof v === 'object' && v !== null && Array.isArray((v as HistogramValue).buckets);
}

/** A value of any type as one line of text (strings are shown as they are). */
export function formatValue(v: Value, percentiles: (h: HistogramValue) => Readonly<Record<string, number | null>> = () => ({})): string {
  if (v === null) return '-';
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return v;
  if (isHistogram(v)) return formatHistogram(v, percentiles(v));
  return Object.entries(v)
    .map(([k, x]) => `${k}=${formatNumber(x)}`)
    .join(' ');
}

/** Replace control characters so text from a file can never move the cursor or recolour the terminal. */
export function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => (c === '\t' ? ' ' : '\uFFFD'));
}

/** The display width of `text` (one column per code point: labels are mostly ASCII). */
export function width(text: string): number {
  return [...text].length;
}

/** `text` padded on the right to `w` columns. */
export function padEnd(text: string, w: number): string {
  return text + ' '.repeat(Math.max(0, w - width(text)));
}

/** `text` padded on the left to `w` columns. */
export function padStart(text: string, w: number): string {
  return ' '.repeat(Math.max(0, w - width(text))) + text;
}

/** `text` cut to at most `w` columns, with an ellipsis when cut. */
export function truncate(text: string, w: number): string {
  if (w <= 0) return '';
  const chars = [...text];
  return chars.length <= w ? text : chars.slice(0, Math.max(0, w - 1)).join('') + '…';
}

const BARS = '▁▂▃▄▅▆▇█';

/** A sparkline of `values` (nulls as gaps), scaled between their min and max. */
export function sparkline(values: readonly (number | null)[]): string {
  const nums = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (nums.length === 0) return ' '.repeat(values.length);
  const lo = minOf(nums);
  const hi = maxOf(nums);
  return values
    .map((v) => {
      if (v === null || !Number.isFinite(v)) return ' ';
      if (hi === lo) return BARS[0];
      return BARS[Math.min(BARS.length - 1, Math.floor(((v - lo) / (hi - lo)) * BARS.length))];
    })
    .join('');
}
