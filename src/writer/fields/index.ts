/**
 * `field`: the factories a model schema is written with.
 *
 * ```ts
 * const Web = defineModel('Web', {
 *   requests: field.counter({ help: 'requests served' }),
 *   path: field.string({ size: 64 }),
 *   version: field.static.string('1.2.0'),
 * });
 * ```
 */
import type { FieldOptions } from '../field.js';
import { labelled, type LabelOptions } from '../family.js';
import { BoolSpec, CounterSpec, GaugeSpec, NumberSpec, type NumberType } from './scalar.js';
import { StaticSpec } from './static.js';
import { BigIntSpec, CompoundSpec, StringSpec } from './wide.js';
import { AverageSpec } from './average.js';
import { MinMaxSpec, SamplingCounterSpec } from './compound.js';
import { HistogramSpec, type HistogramOptions } from './histogram.js';
import { MemoryUsageSpec, ProcessMemorySpec } from './memory.js';
import { TimerSpec, type TimerOptions } from './timer.js';

type NumberOptions = FieldOptions & { kind?: 'gauge' | 'counter' | 'untyped' };
const num =
  (type: NumberType) =>
  <const L extends readonly string[] = []>(options?: NumberOptions & LabelOptions<L>) =>
    labelled(options, (o) => new NumberSpec(type, o));
const stat = (type: NumberType) => (value: number | (() => number), options?: FieldOptions) =>
  new StaticSpec<number>(new NumberSpec(type), value, options);

/**
 * Field factories for model schemas and `stats.add()`. Every factory but `static.*`
 * takes `labels: ['method', 'status']` (and `maxSeries`): the field is then a
 * labelled family (`Family`) whose children are fields of that type.
 */
export const field = {
  /** A counter (`incr`, `reset`): exact to 2^53. */
  counter: <const L extends readonly string[] = []>(options?: FieldOptions & LabelOptions<L>) =>
    labelled(options, (o) => new CounterSpec(o ?? {})),
  /** A gauge (`set`, `incr`, `decr`). */
  gauge: <const L extends readonly string[] = []>(options?: FieldOptions & LabelOptions<L>) =>
    labelled(options, (o) => new GaugeSpec(o ?? {})),
  int8: num('int8'),
  uint8: num('uint8'),
  int16: num('int16'),
  uint16: num('uint16'),
  int32: num('int32'),
  uint32: num('uint32'),
  float32: num('float32'),
  float64: num('float64'),
  /** A signed 64-bit integer, exact through bigint. */
  int64: <const L extends readonly string[] = []>(options?: FieldOptions & { kind?: 'gauge' | 'counter' } & LabelOptions<L>) =>
    labelled(options, (o) => new BigIntSpec(true, o)),
  /** An unsigned 64-bit integer, exact through bigint. */
  uint64: <const L extends readonly string[] = []>(options?: FieldOptions & { kind?: 'gauge' | 'counter' } & LabelOptions<L>) =>
    labelled(options, (o) => new BigIntSpec(false, o)),
  bool: <const L extends readonly string[] = []>(options?: FieldOptions & LabelOptions<L>) =>
    labelled(options, (o) => new BoolSpec(o ?? {})),
  /** A fixed-size UTF-8 string (`size` bytes, default 255). */
  string: <const L extends readonly string[] = []>(options?: FieldOptions & { size?: number } & LabelOptions<L>) =>
    labelled(options, (o) => new StringSpec(o)),
  /** Several float64 parts updated together and always read together. */
  compound: <P extends string, const L extends readonly string[] = []>(parts: readonly P[], options?: FieldOptions & LabelOptions<L>) =>
    labelled(options, (o) => new CompoundSpec<P>(parts, o)),
  /** A counter published with its rate per second (parts `count`, `rate`), re-sampled every `interval` ms (default 1000). */
  samplingCounter: <const L extends readonly string[] = []>(options?: FieldOptions & { interval?: number } & LabelOptions<L>) =>
    labelled(options, (o) => new SamplingCounterSpec(o)),
  /** The count, smallest, largest and last of the values recorded, always read together. */
  minMax: <const L extends readonly string[] = []>(options?: FieldOptions & LabelOptions<L>) =>
    labelled(options, (o) => new MinMaxSpec(o ?? {})),
  /** The running mean of every value added (parts `count`, `sum`, `mean`; v1: the original's AverageField). */
  average: <const L extends readonly string[] = []>(options?: FieldOptions & LabelOptions<L>) =>
    labelled(options, (o) => new AverageSpec(o ?? {})),
  /** The mean of the last `size` values (default 100; v1: the original's MovingAverageField). */
  movingAverage: <const L extends readonly string[] = []>(options?: FieldOptions & { size?: number } & LabelOptions<L>) =>
    labelled(options, (o) => new AverageSpec({ ...o, size: o?.size ?? 100 })),
  /** The mean of the values of the last `window` ms (default 60 000), in `slots` time slots (default 60). */
  windowAverage: <const L extends readonly string[] = []>(options?: FieldOptions & { window?: number; slots?: number } & LabelOptions<L>) =>
    labelled(options, (o) => new AverageSpec({ ...o, window: o?.window ?? 60_000, size: undefined })),
  /**
   * A histogram: log-linear over `lowest`..`highest` at `precision` (default 1e-6..1e6, 0.78%
   * buckets), or explicit `buckets` bounds. v2 only.
   */
  histogram: <const L extends readonly string[] = []>(options?: HistogramOptions & LabelOptions<L>) =>
    labelled(options, (o) => new HistogramSpec(o)),
  /** A timer in seconds (or `unit`): `time(fn)`, `start()`/`stop(token)`, `using _ = t.scope()`. */
  timer: <const L extends readonly string[] = []>(options?: TimerOptions & LabelOptions<L>) => labelled(options, (o) => new TimerSpec(o)),
  /** Heap and RSS growth across scopes: `measure(fn)`, `start()`/`mark.stop()`, `using _ = m.scope()`. v2 only. */
  memoryUsage: <const L extends readonly string[] = []>(options?: Omit<FieldOptions, 'unit'> & LabelOptions<L>) =>
    labelled(options, (o) => new MemoryUsageSpec(o)),
  /** `process.memoryUsage()`, refreshed by `refresh()` or every `interval` ms (unref'd). v2 only. */
  processMemory: <const L extends readonly string[] = []>(options?: Omit<FieldOptions, 'unit'> & { interval?: number } & LabelOptions<L>) =>
    labelled(options, (o) => new ProcessMemorySpec(o)),
  /** Write-once fields, set at open from a value or a function. */
  static: {
    int8: stat('int8'),
    uint8: stat('uint8'),
    int16: stat('int16'),
    uint16: stat('uint16'),
    int32: stat('int32'),
    uint32: stat('uint32'),
    float32: stat('float32'),
    float64: stat('float64'),
    int64: (value: number | bigint | (() => number | bigint), options?: FieldOptions) =>
      new StaticSpec<number | bigint>(new BigIntSpec(true), value, options),
    uint64: (value: number | bigint | (() => number | bigint), options?: FieldOptions) =>
      new StaticSpec<number | bigint>(new BigIntSpec(false), value, options),
    bool: (value: boolean | (() => boolean), options?: FieldOptions) => new StaticSpec<boolean>(new BoolSpec({}), value, options),
    string: (value: string | (() => string), options?: FieldOptions & { size?: number }) =>
      new StaticSpec<string>(new StringSpec({ size: options?.size }), value, options),
  },
};
