/**
 * Number and value formatting for the dashboard page (pure functions, shared
 * with the tests like protocol.ts). A unit has its own base: seconds
 * scale by 1000 (s, ms, µs, ns), bytes by 1024 (B, KiB, MiB...), anything else
 * by SI prefixes (k, M, G) before the unit's name. One scale serves every tick
 * of an axis, so an axis never mixes "0 s" and "200 ms".
 */
import { bucketQuantile, isWireHistogram, type WireField, type WireValue } from './protocol.js';

/** A scale of a unit: divide by `div`, then write `suffix` after the number. */
interface Scale {
  readonly div: number;
  readonly suffix: string;
}

const TIME: readonly Scale[] = [
  { div: 1, suffix: ' s' },
  { div: 1e-3, suffix: ' ms' },
  { div: 1e-6, suffix: ' µs' },
  { div: 1e-9, suffix: ' ns' },
];
const BYTES: readonly Scale[] = [
  { div: 2 ** 40, suffix: ' TiB' },
  { div: 2 ** 30, suffix: ' GiB' },
  { div: 2 ** 20, suffix: ' MiB' },
  { div: 2 ** 10, suffix: ' KiB' },
  { div: 1, suffix: ' B' },
];
const SI = [
  [1e12, 'T'],
  [1e9, 'G'],
  [1e6, 'M'],
  [1e3, 'k'],
] as const;

/** True for a unit measured in seconds. */
export function isTimeUnit(unit: string): boolean {
  return unit === 'seconds' || unit === 's';
}

/** The name of a unit for the value `v`: `1 request`, `2 requests` (a plural's s goes for exactly one). */
function unitName(unit: string, v: number): string {
  return Math.abs(v) === 1 && /[^sui]s$/.test(unit) ? unit.slice(0, -1) : unit;
}

/** The scale that writes `a` (an absolute value) with the fewest digits before the point, at least one. */
function scaleOf(unit: string, a: number): Scale {
  const scales = isTimeUnit(unit) ? TIME : unit === 'bytes' ? BYTES : undefined;
  if (scales) {
    if (a === 0 || !Number.isFinite(a)) return scales === TIME ? TIME[0]! : BYTES[BYTES.length - 1]!;
    return scales.find((s) => a >= s.div) ?? scales[scales.length - 1]!;
  }
  for (const [size, prefix] of SI) if (a >= size) return { div: size, suffix: prefix };
  return { div: 1, suffix: unit ? ` ${unit}` : '' };
}

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
  const s = String(Number(v.toFixed(digits)));
  return a >= 1000 && Number.isInteger(Number(s)) ? Number(s).toLocaleString('en-US') : s;
}

/** A number with its unit, scaled in the unit's own base (seconds to ms, bytes to KiB, requests to k requests). */
export function formatWithUnit(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return formatNumber(v);
  if (!isTimeUnit(unit) && unit !== 'bytes') return unit ? `${formatNumber(v)} ${unitName(unit, v)}` : formatNumber(v);
  const scale = scaleOf(unit, Math.abs(v));
  return `${trim(v / scale.div)}${scale.suffix}`;
}

/** A rate: `12 requests/s`, `1.5 KiB/s`, `3 /s` without a unit. */
export function formatRate(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return formatNumber(v);
  if (isTimeUnit(unit)) return `${trim(v)} s/s`;
  return unit ? `${formatWithUnit(v, unit)}/s` : `${formatNumber(v)}/s`;
}

/**
 * The tick labels of an axis: one scale for all of them (from the largest tick,
 * or from the step when the largest would need more than two decimals), and as
 * many decimals as the step needs, the same for every tick.
 */
export function axisTicks(splits: readonly number[], unit: string): string[] {
  const finite = splits.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return splits.map(() => '');
  const max = finite.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let step = Number.POSITIVE_INFINITY;
  for (let i = 1; i < finite.length; i++) step = Math.min(step, Math.abs(finite[i]! - finite[i - 1]!));
  if (!Number.isFinite(step) || step === 0) step = max || 1;
  // Ticks stay short: a unit's name only where it rescales (seconds, bytes), else an SI prefix.
  const axisUnit = isTimeUnit(unit) || unit === 'bytes' ? unit : '';
  let scale = scaleOf(axisUnit, max);
  if (step / scale.div < 0.01) scale = scaleOf(axisUnit, step);
  // Decimals the step needs in this scale (0.25 -> 2, 0.5 -> 1, 200 -> 0), at most 6.
  let decimals = 0;
  while (decimals < 6 && Math.abs(Math.round((step / scale.div) * 10 ** decimals) - (step / scale.div) * 10 ** decimals) > 1e-6) decimals++;
  return splits.map((v) => {
    if (!Number.isFinite(v)) return '';
    const x = v / scale.div;
    const text =
      Math.abs(x) >= 1000
        ? x.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
        : x.toFixed(decimals);
    // Trailing zeros go (0.5 and 1, not 0.5 and 1.0); a negative zero is 0.
    const short = decimals > 0 ? text.replace(/\.?0+$/, '') : text;
    if (short === '0' || short === '-0') return scale.suffix.startsWith(' ') ? `0${scale.suffix}` : '0';
    return `${short}${scale.suffix}`;
  });
}

/**
 * Axis steps that are round in the unit's base: for bytes, powers of two of
 * each binary unit (256 KiB, 512 KiB, 1 MiB); undefined (uPlot's decimal 1, 2,
 * 2.5, 5 steps) for everything else.
 */
export function axisIncrements(unit: string): number[] | undefined {
  if (unit !== 'bytes') return undefined;
  const out: number[] = [];
  for (let k = 0; k <= 5; k++) for (let m = 1; m < 1024; m *= 2) out.push(m * 1024 ** k);
  return out;
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
