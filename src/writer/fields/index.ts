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
import { BoolSpec, CounterSpec, GaugeSpec, NumberSpec, type NumberType } from './scalar.js';
import { StaticSpec } from './static.js';
import { BigIntSpec, CompoundSpec, StringSpec } from './wide.js';

type NumberOptions = FieldOptions & { kind?: 'gauge' | 'counter' | 'untyped' };
const num = (type: NumberType) => (options?: NumberOptions) => new NumberSpec(type, options);
const stat = (type: NumberType) => (value: number | (() => number), options?: FieldOptions) =>
  new StaticSpec<number>(new NumberSpec(type), value, options);

/** Field factories for model schemas and `stats.add()`. */
export const field = {
  /** A counter (`incr`, `reset`): exact to 2^53. */
  counter: (options?: FieldOptions) => new CounterSpec(options ?? {}),
  /** A gauge (`set`, `incr`, `decr`). */
  gauge: (options?: FieldOptions) => new GaugeSpec(options ?? {}),
  int8: num('int8'),
  uint8: num('uint8'),
  int16: num('int16'),
  uint16: num('uint16'),
  int32: num('int32'),
  uint32: num('uint32'),
  float32: num('float32'),
  float64: num('float64'),
  /** A signed 64-bit integer, exact through bigint. */
  int64: (options?: FieldOptions & { kind?: 'gauge' | 'counter' }) => new BigIntSpec(true, options),
  /** An unsigned 64-bit integer, exact through bigint. */
  uint64: (options?: FieldOptions & { kind?: 'gauge' | 'counter' }) => new BigIntSpec(false, options),
  bool: (options?: FieldOptions) => new BoolSpec(options ?? {}),
  /** A fixed-size UTF-8 string (`size` bytes, default 255). */
  string: (options?: FieldOptions & { size?: number }) => new StringSpec(options),
  /** Several float64 parts updated together and always read together. */
  compound: <P extends string>(parts: readonly P[], options?: FieldOptions) => new CompoundSpec<P>(parts, options),
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
