/**
 * Timers: durations on the monotonic high-resolution clock, read without
 * allocating (src/platform/clock.ts; on `performance.now()`'s time base), in
 * seconds by default like the original.
 *
 * Three ways to time something:
 * - `timer.time(fn)`: a sync or async function; recorded when it returns, throws,
 *   resolves or rejects.
 * - `const t = timer.start(); ...; timer.stop(t)`: the token is the start time, a
 *   plain number, so the pair allocates nothing. `stop()` without a token stops
 *   the last `start()` (the original's form).
 * - `using _ = timer.scope()`: recorded when the scope ends (one small object).
 *
 * v2: a histogram (kind `timer`, see ./histogram.ts) of durations from 1 µs to
 * 10^4 s at 0.78% precision by default, with a moving mean of the last 100
 * durations. Readers derive count, sum, min, max, last, mean, the moving mean and
 * percentiles. v1: the original's TimerField, a buffered `d` holding the moving
 * mean of the durations in seconds; `last` lives in writer memory.
 */
import { now as clockNow, since } from '../../platform/clock.js';
import { Kind } from '../../format/v2.js';
import { MmstatsError } from '../../errors.js';
import { Field, FieldSpec, type FieldOptions, type Placement, type V1Layout, type V2Layout } from '../field.js';
import { MovingWindow } from './average.js';
import {
  BucketLayout,
  V2Histogram,
  checkMoving,
  histogramLayout,
  type ExplicitBucketsOptions,
  type LogLinearOptions,
} from './histogram.js';
import { v1Gauge, type V1Number } from './scalar.js';

/** Units a timer can record in, with their size in milliseconds. */
export const TIME_UNITS = { seconds: 1e-3, milliseconds: 1, microseconds: 1e3, nanoseconds: 1e6 } as const;
/** A unit a timer can record in. */
export type TimeUnit = keyof typeof TIME_UNITS;

/** A scope that records its duration when disposed (`using _ = timer.scope()`). */
export interface TimerScope extends Disposable {
  /** Time since the scope began, in the timer's unit. */
  readonly elapsed: number;
}

/** A timer field. */
export interface TimerField extends Field {
  /**
   * Run `fn` and record how long it took; the result (or the thrown error) passes
   * through. If `fn` returns a promise, the duration is recorded when it settles
   * and a promise of the same outcome is returned.
   */
  time<T>(fn: () => T): T;
  /** Start timing: returns a token (the start time) for `stop`. */
  start(): number;
  /** Record the time since `start` returned `token` (default: the last `start()`); returns it. */
  stop(token?: number): number;
  /** A scope for `using`: records its duration when it ends. */
  scope(): TimerScope;
  /** Record a duration measured elsewhere, in the timer's unit. */
  record(duration: number): void;
  /** The duration recorded last. */
  readonly last: number;
  /** Durations recorded. */
  readonly count: number;
  /** The moving mean of the recent durations (the original's TimerField value). */
  readonly value: number;
}

/** Options of `field.timer`. */
export type TimerOptions = Omit<FieldOptions, 'unit'> &
  (LogLinearOptions | ExplicitBucketsOptions) & {
    /** Unit of the durations (default `seconds`). Range options are in this unit. */
    readonly unit?: TimeUnit;
    /** Size of the moving mean (default 100, the original's); 0 for none. */
    readonly moving?: number;
  };

class Scope implements TimerScope {
  constructor(
    private readonly timer: Timer,
    private readonly t0: number,
  ) {}
  get elapsed(): number {
    return since(this.t0) * this.timer.scale;
  }
  [Symbol.dispose](): void {
    this.timer.stop(this.t0);
  }
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && (typeof x === 'object' || typeof x === 'function') && typeof (x as { then?: unknown }).then === 'function';
}

/**
 * Where a timer's durations go: the format's part. A duration is written into
 * `input[0]` and `recordHeld()` takes it from there: no double crosses the call
 * (see `Timer.stop`). `input[0]` still holds the duration after the call.
 */
interface DurationSink {
  readonly input: Float64Array;
  recordHeld(): void;
  bind(at: Placement): void;
  readonly last: number;
  readonly count: number;
  /** The timer's value: the moving mean (or the mean without one). */
  readonly mean: number;
}

// v2: the histogram itself is the sink (V2Histogram has the members), so a timer's
// record is a histogram's record, and one class serves both.

/**
 * v1: the original's TimerField, a buffered `d` holding the moving mean in
 * seconds whatever the timer's unit (FORMAT.md §9): v1 has no unit, and the
 * original's tools read a timer as seconds. `last` and `mean` stay in the timer's
 * unit; only the stored mean is converted.
 */
class MovingMeanSink implements DurationSink {
  readonly input = new Float64Array(1);
  readonly inner: V1Number;
  readonly w: MovingWindow;
  last = NaN;
  count = 0;
  constructor(
    label: string,
    at: Placement,
    moving: number,
    /** Seconds per unit of the timer. */
    private readonly toSeconds: number,
  ) {
    this.inner = v1Gauge(label, at);
    this.w = new MovingWindow(moving);
  }
  bind(at: Placement): void {
    this.inner.bind(at);
  }
  recordHeld(): void {
    const d = this.input[0]!;
    if (d !== d) return;
    this.last = d;
    this.count++;
    this.w.addHeld(this.input);
    // Through the gauge's slot, not as an argument (see V1Number.setHeld).
    this.inner.scratch[0] = (this.w.sum / this.w.n) * this.toSeconds;
    this.inner.setHeld();
  }
  get mean(): number {
    return this.w.mean;
  }
}

/**
 * A timer; the format's part is the sink. Format 2 uses this class and format 1
 * V1Timer, which differs only in owning its `record`. start/stop stay shared:
 * a token or duration returned from a call V8 does not inline is a new heap number,
 * and separate copies of them in two classes made V8 give up inlining them.
 */
class Timer extends Field implements TimerField {
  /** Milliseconds to the timer's unit. */
  readonly scale: number;
  /** The start time of the last `start()` (NaN before any). */
  started = NaN;
  /** The sink's input slot (see DurationSink). */
  protected readonly input: Float64Array;
  constructor(
    label: string,
    unit: TimeUnit,
    readonly sink: DurationSink,
  ) {
    super(label);
    this.scale = TIME_UNITS[unit];
    this.input = sink.input;
  }
  bind(at: Placement): void {
    this.sink.bind(at);
  }

  // A closed timer throws through the own properties markClosed sets: no check here.
  start(): number {
    return (this.started = clockNow());
  }
  stop(token: number = this.started): number {
    if (token !== token) this.notStarted();
    // The duration goes to the sink through its input slot, not as an argument, and is read
    // back after it: a double passed to, or held across, a call V8 does not inline
    // is boxed in a new heap number (see src/platform/clock.ts).
    this.input[0] = since(token) * this.scale;
    this.sink.recordHeld();
    return this.input[0]!;
  }
  /** Kept out of `stop`, so that `stop` stays small enough for V8 to inline. */
  private notStarted(): never {
    throw new MmstatsError('ERR_MMSTATS_UNSUPPORTED', `timer ${this.label} stopped without a start`);
  }
  /**
   * Through the sink's input slot, as `stop`: this stays small enough for V8 to inline
   * it wherever it is called, so the caller's double never crosses a call, while the
   * histogram's record behind it is inlined only while the caller's budget lasts (a
   * handler that records several metrics runs out of it).
   */
  record(duration: number): void {
    this.input[0] = duration;
    this.sink.recordHeld();
  }
  scope(): TimerScope {
    return new Scope(this, clockNow());
  }
  time<T>(fn: () => T): T {
    const t0 = this.start();
    let result: T;
    try {
      result = fn();
    } catch (err) {
      this.stop(t0);
      throw err;
    }
    if (!isThenable(result)) {
      this.stop(t0);
      return result;
    }
    return result.then(
      (v) => {
        this.stop(t0);
        return v;
      },
      (err: unknown) => {
        this.stop(t0);
        throw err;
      },
    ) as T;
  }
  get last(): number {
    return this.sink.last;
  }
  get count(): number {
    return this.sink.count;
  }
  get value(): number {
    return this.sink.mean;
  }
}

/**
 * A v1 timer: the same timer, with its own copy of `record`. V8 learns per function
 * which sinks a call meets; a shared `record` would meet both formats' sinks in a
 * process that writes both, compile too large for V8 to inline it at a new call site,
 * and so box the caller's double (78 collections per 10^7 records, measured). Apart,
 * each stays monomorphic and small.
 */
class V1Timer extends Timer {
  override record(duration: number): void {
    this.input[0] = duration;
    this.sink.recordHeld();
  }
}

/** A timer: a histogram of durations (v2) or the original's moving mean (v1). */
export class TimerSpec extends FieldSpec<TimerField> {
  readonly typeName = 'timer';
  readonly unit: TimeUnit;
  readonly layout: BucketLayout;
  readonly moving: number;
  constructor(options: TimerOptions = {}) {
    const unit = options.unit ?? 'seconds';
    if (!(unit in TIME_UNITS)) throw new RangeError(`timer unit must be one of ${Object.keys(TIME_UNITS).join(', ')}, not ${unit}`);
    super({ ...options, unit });
    this.unit = unit;
    // The default range, 1 µs to 10^4 s, expressed in the timer's unit.
    const perSecond = TIME_UNITS[unit] * 1e3;
    this.layout =
      'buckets' in options && options.buckets !== undefined
        ? BucketLayout.explicit(options.buckets)
        : BucketLayout.logLinear({
            lowest: (options as LogLinearOptions).lowest ?? 1e-6 * perSecond,
            highest: (options as LogLinearOptions).highest ?? 1e4 * perSecond,
            precision: (options as LogLinearOptions).precision,
          });
    this.moving = checkMoving(options.moving, 100);
  }
  v2(): V2Layout {
    return histogramLayout(this.layout, Kind.TIMER, this.moving);
  }
  v1(): V1Layout {
    return { type: 'd', buffered: true };
  }
  create(label: string, at: Placement): TimerField {
    const sink =
      at.format === 2
        ? new V2Histogram(label, at, this.layout, this.moving)
        : new MovingMeanSink(label, at, this.moving || 100, 1 / (TIME_UNITS[this.unit] * 1e3));
    return at.format === 2 ? new Timer(label, this.unit, sink) : new V1Timer(label, this.unit, sink);
  }
}
