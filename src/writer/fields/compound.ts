/**
 * Ready-made compound fields (the original's scrapped SamplingCounterField, made
 * to work): several float64 parts in one seqlocked struct, updated together, so
 * that every reader sees them together and never a mix of two updates.
 *
 * - sampling counter: `count` and `rate` (increments per second over the last
 *   sampling interval). The rate is re-sampled on an increment once `interval` ms
 *   have passed since the last sample, and by an unref'd timer so that it falls
 *   to 0 when increments stop.
 * - min/max/last: `count`, `min`, `max`, `last` of the values recorded.
 */
import { now as clockNow } from '../../platform/clock.js';
import { DataType, Kind, RecordFlags, Seqlocked, structValueSize } from '../../format/v2.js';
import { Field, FieldSpec, type FieldOptions, type Placement, type V2Layout } from '../field.js';
import { tickWhileOpen } from './average.js';
import { SeqBlock } from './seqblock.js';

/** The v2 layout of a struct of float64 parts. */
export function structLayout(names: readonly string[], kind: number): V2Layout {
  return {
    dataType: DataType.STRUCT,
    kind,
    flags: RecordFlags.SEQLOCK,
    param: 0,
    valueSize: structValueSize(names.length),
    align: 8,
    parts: names.map((name, i) => ({ name, dataType: DataType.FLOAT64, offset: Seqlocked.PAYLOAD + i * 8 })),
    bounds: new Float64Array(0),
  };
}

/** A counter published with its rate. */
export interface SamplingCounterField extends Field {
  /** Add `n` (default 1). */
  incr(n?: number): void;
  /** Set the count back to 0. */
  reset(): void;
  /** The count. */
  readonly value: number;
  /** Increments per second over the last sampling interval. */
  readonly rate: number;
}

const S_COUNT = 0;
const S_RATE = 1;

class V2SamplingCounter extends SeqBlock implements SamplingCounterField {
  n = 0;
  r = 0;
  /** Count and time of the last sample. */
  sampleCount = 0;
  sampleAt = 0;
  nextSample = 0;
  constructor(
    label: string,
    at: Placement,
    private readonly intervalMs: number,
  ) {
    super(label, at, 2);
    this.n = this.f64[S_COUNT]!;
    this.sampleCount = this.n;
    this.sampleAt = clockNow();
    this.nextSample = this.sampleAt + intervalMs;
    this.publish();
    // A timer tick can come early by this clock (libuv counts from a cached loop time):
    // sample only once a whole interval has passed, so a rate always spans one.
    tickWhileOpen(this, intervalMs, () => {
      const now = clockNow();
      if (now >= this.nextSample) this.sample(now);
    });
  }
  /** Take a rate sample at `now` and publish. */
  sample(now: number): void {
    const dt = now - this.sampleAt;
    if (dt <= 0) return;
    this.r = ((this.n - this.sampleCount) * 1000) / dt;
    this.sampleCount = this.n;
    this.sampleAt = now;
    this.nextSample = now + this.intervalMs;
    this.publish();
  }
  private publish(): void {
    this.beginWrite();
    this.f64[S_COUNT] = this.n;
    this.f64[S_RATE] = this.r;
    this.endWrite();
  }
  incr(n = 1): void {
    this.n += n;
    const now = clockNow();
    if (now >= this.nextSample) this.sample(now);
    else this.publish();
  }
  reset(): void {
    if (this.closed) this.useAfterClose();
    this.n = 0;
    this.r = 0;
    this.sampleCount = 0;
    this.sampleAt = clockNow();
    this.publish();
  }
  get value(): number {
    if (this.closed) this.useAfterClose();
    return this.n;
  }
  get rate(): number {
    if (this.closed) this.useAfterClose();
    return this.r;
  }
}

/** A counter and its rate per second (kind `counter`, parts `count` and `rate`). */
export class SamplingCounterSpec extends FieldSpec<SamplingCounterField> {
  readonly typeName = 'sampling counter';
  readonly intervalMs: number;
  constructor(options: FieldOptions & { interval?: number } = {}) {
    super(options);
    this.intervalMs = options.interval ?? 1000;
    if (!(this.intervalMs >= 1) || !Number.isFinite(this.intervalMs)) {
      throw new RangeError(`a sampling interval must be at least 1 ms, not ${this.intervalMs}`);
    }
  }
  v2(): V2Layout {
    return structLayout(['count', 'rate'], Kind.COUNTER);
  }
  v1(): undefined {
    return undefined;
  }
  create(label: string, at: Placement): SamplingCounterField {
    return new V2SamplingCounter(label, at, this.intervalMs);
  }
}

/** Smallest, largest and last value recorded, with their count. */
export interface MinMaxField extends Field {
  /** Record `value` (NaN is ignored). */
  record(value: number): void;
  /** Forget every value. */
  reset(): void;
  readonly count: number;
  /** 0 before any value. */
  readonly min: number;
  readonly max: number;
  readonly last: number;
}

class V2MinMax extends SeqBlock implements MinMaxField {
  constructor(label: string, at: Placement) {
    super(label, at, 4);
  }
  record(value: number): void {
    if (value !== value) return;
    const f = this.f64;
    this.beginWrite();
    const c = f[0]!;
    f[0] = c + 1;
    if (c === 0 || value < f[1]!) f[1] = value;
    if (c === 0 || value > f[2]!) f[2] = value;
    f[3] = value;
    this.endWrite();
  }
  reset(): void {
    if (this.closed) this.useAfterClose();
    this.beginWrite();
    this.f64.fill(0);
    this.endWrite();
  }
  get count(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[0]!;
  }
  get min(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[1]!;
  }
  get max(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[2]!;
  }
  get last(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[3]!;
  }
}

/** A min/max/last triple with its count (kind `gauge`, parts `count`, `min`, `max`, `last`). */
export class MinMaxSpec extends FieldSpec<MinMaxField> {
  readonly typeName = 'min/max/last';
  v2(): V2Layout {
    return structLayout(['count', 'min', 'max', 'last'], Kind.GAUGE);
  }
  v1(): undefined {
    return undefined;
  }
  create(label: string, at: Placement): MinMaxField {
    return new V2MinMax(label, at);
  }
}
