/** Number and value formatting for the page. */
import { bucketQuantile, isWireHistogram, type WireField, type WireValue } from '../protocol.js';

const SI = [
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
] as const;

/** A number in a few significant digits, with an SI suffix when large. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e6) return v.toLocaleString('en-US');
  for (const [size, suffix] of SI) if (a >= size) return `${trim(v / size)}${suffix}`;
  return trim(v);
}

function trim(v: number): string {
  const a = Math.abs(v);
  const digits = a >= 100 ? 1 : a >= 1 ? 2 : 3;
  if (a !== 0 && a < 0.001) return v.toExponential(2);
  return String(Number(v.toFixed(digits)));
}

/** A number with its unit; seconds become ms or µs when small. */
export function formatWithUnit(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return formatNumber(v);
  if (unit === 'seconds' || unit === 's') {
    const a = Math.abs(v);
    if (a !== 0 && a < 1e-3) return `${trim(v * 1e6)} µs`;
    if (a !== 0 && a < 1) return `${trim(v * 1e3)} ms`;
    return `${trim(v)} s`;
  }
  if (unit === 'bytes') {
    const a = Math.abs(v);
    for (const [size, suffix] of [
      [2 ** 30, 'GiB'],
      [2 ** 20, 'MiB'],
      [2 ** 10, 'KiB'],
    ] as const) {
      if (a >= size) return `${trim(v / size)} ${suffix}`;
    }
    return `${formatNumber(v)} B`;
  }
  return unit ? `${formatNumber(v)} ${unit}` : formatNumber(v);
}

/** Is this field drawn as a chart (numeric or bucketed, and not write-once)? */
export function isPlottable(f: WireField, sample: WireValue | undefined): boolean {
  if (f.static) return false;
  if (isWireHistogram(sample)) return f.le !== undefined;
  return numeric(f, sample) !== null;
}

/** The number a field plots: its value, 1/0 for a boolean, an average's mean. */
export function numeric(f: WireField, v: WireValue | undefined): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return f.type === 'string' || !/^-?\d+$/.test(v) ? null : Number(v);
  if (f.kind === 'average' && typeof v === 'object' && v !== null && !isWireHistogram(v) && typeof v.mean === 'number') return v.mean;
  return null;
}

/** A value as the fields table shows it: always plain text. */
export function formatValue(f: WireField, v: WireValue | undefined): string {
  if (v === undefined || v === null) return '–';
  // Strings as they are; bigints past 2^53 arrive as decimal strings.
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return f.kind === 'info' ? String(v) : formatWithUnit(v, f.unit);
  if (isWireHistogram(v)) {
    if (v.count === 0) return 'no observations';
    const q = (p: number) => formatWithUnit(f.le ? bucketQuantile(p, f.le, v.idx, v.counts, v.min, v.max) : null, f.unit);
    return `n=${formatNumber(v.count)}  p50 ${q(0.5)}  p90 ${q(0.9)}  p99 ${q(0.99)}  max ${formatWithUnit(v.max, f.unit)}`;
  }
  return Object.entries(v)
    .map(([k, x]) => `${k}=${formatNumber(x)}`)
    .join('  ');
}
