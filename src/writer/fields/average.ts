/**
 * Averages: a running mean of every value added, a moving mean of the last N
 * values (the original's MovingAverageField, N = 100 by default) and a mean over
 * a time window (the original's later to-do, e.g. the last 60 s).
 *
 * v2: a seqlocked struct of three float64 parts `count`, `sum`, `mean`, written
 * together (kind `average`), so a reader never sees a mean that does not match its
 * count. For the moving and the time-window forms, `count` and `sum` are those of
 * the values now in the window. v1: the original's buffered `d` holding the mean.
 *
 * Time-window bucketing: the window of `window` ms is cut into `slots` slots
 * (default 60) of `window / slots` ms each, on the monotonic clock. A value counts
 * in the slot of the moment it was added; a whole slot leaves the window when it
 * is `slots` slots old. So the mean covers the values of the last `window` ms to
 * within one slot (between `window - window/slots` and `window` ms of history).
 * An unref'd timer advances the window once per slot even when no value comes,
 * so the published mean empties out after a quiet `window`.
 */
import { now as clockNow } from '../../platform/clock.js';
import { DataType, Kind, RecordFlags, Seqlocked, structValueSize } from '../../format/v2.js';
import { Field, FieldSpec, type FieldOptions, type Placement, type V1Layout, type V2Layout } from '../field.js';
import { v1Gauge, type GaugeField } from './scalar.js';
import { SeqBlock } from './seqblock.js';

/** A field that averages the values added to it. */
export interface AverageField extends Field {
  /** Add one value (NaN is ignored). */
  add(value: number): void;
  /** The mean now published (NaN before any value; for windows, of the values in the window). */
  readonly value: number;
  /** How many values the published mean covers. */
  readonly count: number;
  /** Forget every value. */
  reset(): void;
}

/** @internal The last N values in writer memory, with their sum kept exact enough. */
export class MovingWindow {
  readonly ring: Float64Array;
  /** Next slot to write. */
  i = 0;
  /** Values held (at most ring.length). */
  n = 0;
  sum = 0;
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 1e7)
      throw new RangeError(`a moving window size must be an integer from 1 to 10^7, not ${size}`);
    this.ring = new Float64Array(size);
  }
  /** The argument slot of `add` (see `addHeld`). */
  private readonly scratch = new Float64Array(1);
  /** Add `v`, dropping the oldest value once full. */
  add(v: number): void {
    this.scratch[0] = v;
    this.addHeld(this.scratch);
  }
  /**
   * Add `held[0]`, dropping the oldest value once full. The value travels through
   * a typed array, not as an argument: V8 boxes a double passed to a call it does
   * not inline in a new heap number, and the record paths of timers and histograms
   * must allocate nothing. Callers read `sum` and `n` after the call.
   */
  addHeld(held: Float64Array): void {
    const v = held[0]!;
    const ring = this.ring;
    const i = this.i;
    let dropped = 0;
    if (this.n === ring.length) dropped = ring[i]!;
    else this.n++;
    ring[i] = v;
    // One addition on the sum per value (the difference is formed off that chain): the
    // sum lives in memory, so each addition on it costs a store-to-load round trip.
    this.sum += v - dropped;
    if (i + 1 === ring.length) {
      this.i = 0;
      this.resum();
    } else this.i = i + 1;
  }
  /**
   * Once per lap, the sum re-added from scratch, so that the rounding of many += and
   * -= never piles up; in four independent chains of additions (four times shorter
   * than one). It stores the sum itself rather than returning it: a double returned
   * from a call V8 does not inline is a new heap number.
   */
  private resum(): void {
    const ring = this.ring;
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    let k = 0;
    for (; k + 3 < ring.length; k += 4) {
      a += ring[k]!;
      b += ring[k + 1]!;
      c += ring[k + 2]!;
      d += ring[k + 3]!;
    }
    for (; k < ring.length; k++) a += ring[k]!;
    this.sum = a + b + (c + d);
  }
  get mean(): number {
    return this.n === 0 ? NaN : this.sum / this.n;
  }
  reset(): void {
    this.i = 0;
    this.n = 0;
    this.sum = 0;
  }
}

/** @internal Values of the last `window` ms, in `slots` time slots (see the module comment). */
export class TimeWindow {
  readonly sums: Float64Array;
  readonly counts: Float64Array;
  readonly slotMs: number;
  /** Number (time / slotMs) of the slot now being filled. */
  current: number;
  sum = 0;
  count = 0;
  constructor(windowMs: number, slots: number) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs))
      throw new RangeError(`a time window must be a positive number of ms, not ${windowMs}`);
    if (!Number.isInteger(slots) || slots < 1 || slots > 100_000)
      throw new RangeError(`window slots must be an integer from 1 to 100000, not ${slots}`);
    this.sums = new Float64Array(slots);
    this.counts = new Float64Array(slots);
    this.slotMs = windowMs / slots;
    this.current = Math.floor(clockNow() / this.slotMs);
  }
  /** Move the window to `now` (ms, monotonic): drop the slots that left it. Returns whether anything changed. */
  advance(now: number): boolean {
    const slot = Math.floor(now / this.slotMs);
    if (slot <= this.current) return false;
    const len = this.sums.length;
    const steps = Math.min(slot - this.current, len);
    for (let k = 1; k <= steps; k++) {
      const j = (this.current + k) % len;
      this.sum -= this.sums[j]!;
      this.count -= this.counts[j]!;
      this.sums[j] = 0;
      this.counts[j] = 0;
    }
    this.current = slot;
    if (this.count <= 0) {
      // Empty: start from exact zeros rather than the leftovers of rounding.
      this.count = 0;
      this.sum = 0;
    }
    return true;
  }
  add(v: number, now: number): void {
    this.advance(now);
    const j = this.current % this.sums.length;
    this.sums[j] += v;
    this.counts[j] += 1;
    this.sum += v;
    this.count += 1;
  }
  reset(): void {
    this.sums.fill(0);
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

const COUNT = 0;
const SUM = 1;
const MEAN = 2;
const AVERAGE_PARTS = ['count', 'sum', 'mean'] as const;

/** The v2 layout shared by the three averages. */
function averageLayout(): V2Layout {
  return {
    dataType: DataType.STRUCT,
    kind: Kind.AVERAGE,
    flags: RecordFlags.SEQLOCK,
    param: 0,
    valueSize: structValueSize(AVERAGE_PARTS.length),
    align: 8,
    parts: AVERAGE_PARTS.map((name, i) => ({ name, dataType: DataType.FLOAT64, offset: Seqlocked.PAYLOAD + i * 8 })),
    bounds: new Float64Array(0),
  };
}

abstract class V2AverageBase extends SeqBlock implements AverageField {
  constructor(label: string, at: Placement) {
    super(label, at, 3);
  }
  abstract add(value: number): void;
  abstract reset(): void;
  /** Publish count, sum and mean in one write. */
  protected publish(count: number, sum: number): void {
    this.beginWrite();
    const f = this.f64;
    f[COUNT] = count;
    f[SUM] = sum;
    f[MEAN] = count > 0 ? sum / count : NaN;
    this.endWrite();
  }
  get value(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[MEAN]!;
  }
  get count(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[COUNT]!;
  }
}

/** Running mean in v2: count and sum continue from a kept file's values. */
class V2Running extends V2AverageBase {
  n = 0;
  sum = 0;
  constructor(label: string, at: Placement) {
    super(label, at);
    this.n = this.f64[COUNT]!;
    this.sum = this.f64[SUM]!;
    if (this.n === 0) this.publish(0, 0);
  }
  add(value: number): void {
    if (this.closed) this.useAfterClose();
    if (value !== value) return;
    this.n += 1;
    this.sum += value;
    this.publish(this.n, this.sum);
  }
  reset(): void {
    if (this.closed) this.useAfterClose();
    this.n = 0;
    this.sum = 0;
    this.publish(0, 0);
  }
}

class V2Moving extends V2AverageBase {
  readonly w: MovingWindow;
  constructor(label: string, at: Placement, size: number) {
    super(label, at);
    this.w = new MovingWindow(size);
    this.publish(0, 0);
  }
  add(value: number): void {
    if (this.closed) this.useAfterClose();
    if (value !== value) return;
    const w = this.w;
    w.add(value);
    this.publish(w.n, w.sum);
  }
  reset(): void {
    if (this.closed) this.useAfterClose();
    this.w.reset();
    this.publish(0, 0);
  }
}

/** Starts an unref'd interval that calls `tick` until the field closes. */
function tickWhileOpen(f: Field, ms: number, tick: () => void): void {
  const timer = setInterval(
    () => {
      if (f.closed || f.detached) clearInterval(timer);
      else tick();
    },
    Math.max(1, ms),
  );
  timer.unref();
}

class V2Windowed extends V2AverageBase {
  readonly w: TimeWindow;
  constructor(label: string, at: Placement, windowMs: number, slots: number) {
    super(label, at);
    this.w = new TimeWindow(windowMs, slots);
    this.publish(0, 0);
    tickWhileOpen(this, this.w.slotMs, () => {
      if (this.w.advance(clockNow())) this.publish(this.w.count, this.w.sum);
    });
  }
  add(value: number): void {
    if (this.closed) this.useAfterClose();
    if (value !== value) return;
    const w = this.w;
    w.add(value, clockNow());
    this.publish(w.count, w.sum);
  }
  reset(): void {
    if (this.closed) this.useAfterClose();
    this.w.reset();
    this.publish(0, 0);
  }
}

/** The v1 forms: the mean in the original's buffered `d`; count and sum stay in writer memory. */
class V1Average extends Field implements AverageField {
  readonly inner: GaugeField;
  n = 0;
  sum = 0;
  constructor(
    label: string,
    at: Placement,
    private readonly mode: 'running' | 'moving' | 'window',
    private readonly moving: MovingWindow | undefined,
    private readonly window: TimeWindow | undefined,
  ) {
    super(label);
    this.inner = v1Gauge(label, at);
    if (window) {
      tickWhileOpen(this, window.slotMs, () => {
        if (window.advance(clockNow())) this.inner.set(window.count > 0 ? window.sum / window.count : 0);
      });
    }
  }
  bind(at: Placement): void {
    this.inner.bind(at);
  }
  add(value: number): void {
    if (this.closed) this.useAfterClose();
    if (value !== value) return;
    if (this.mode === 'running') {
      this.n += 1;
      this.sum += value;
      this.inner.set(this.sum / this.n);
    } else if (this.moving) {
      this.moving.add(value);
      this.inner.set(this.moving.mean);
    } else if (this.window) {
      this.window.add(value, clockNow());
      this.inner.set(this.window.sum / this.window.count);
    }
  }
  reset(): void {
    if (this.closed) this.useAfterClose();
    this.n = 0;
    this.sum = 0;
    this.moving?.reset();
    this.window?.reset();
    this.inner.set(0);
  }
  get value(): number {
    if (this.closed) this.useAfterClose();
    if (this.moving) return this.moving.mean;
    if (this.window) return this.window.count > 0 ? this.window.sum / this.window.count : NaN;
    return this.n > 0 ? this.sum / this.n : NaN;
  }
  get count(): number {
    return this.moving ? this.moving.n : this.window ? this.window.count : this.n;
  }
}

/** Options of `field.average`. */
export type AverageOptions = FieldOptions &
  (
    | { readonly window?: undefined; readonly size?: undefined }
    /** A moving mean of the last `size` values (the original's default: 100). */
    | { readonly size: number; readonly window?: undefined }
    /** A mean over the last `window` ms, in `slots` slots (default 60). */
    | { readonly window: number; readonly slots?: number; readonly size?: undefined }
  );

/** An average: running (no option), moving (`size`) or over a time window (`window` ms). */
export class AverageSpec extends FieldSpec<AverageField> {
  readonly typeName: string;
  readonly mode: 'running' | 'moving' | 'window';
  constructor(options: AverageOptions = {}) {
    super(options);
    this.mode = options.window !== undefined ? 'window' : options.size !== undefined ? 'moving' : 'running';
    this.typeName = this.mode === 'running' ? 'average' : this.mode === 'moving' ? 'moving average' : 'time-window average';
    // Check the sizes now, where the schema is written, not at open.
    if (options.size !== undefined) new MovingWindow(options.size);
    if (options.window !== undefined) new TimeWindow(options.window, (options as { slots?: number }).slots ?? 60);
  }
  v2(): V2Layout {
    return averageLayout();
  }
  v1(): V1Layout {
    return { type: 'd', buffered: true };
  }
  create(label: string, at: Placement): AverageField {
    const o = this.options as { size?: number; window?: number; slots?: number };
    if (at.format === 2) {
      if (this.mode === 'moving') return new V2Moving(label, at, o.size!);
      if (this.mode === 'window') return new V2Windowed(label, at, o.window!, o.slots ?? 60);
      return new V2Running(label, at);
    }
    return new V1Average(
      label,
      at,
      this.mode,
      this.mode === 'moving' ? new MovingWindow(o.size!) : undefined,
      this.mode === 'window' ? new TimeWindow(o.window!, o.slots ?? 60) : undefined,
    );
  }
}

export { tickWhileOpen };
