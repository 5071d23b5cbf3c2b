/**
 * The clock of timers and rates: milliseconds on the monotonic clock, on the time
 * base of `performance.now()`, read without allocating.
 *
 * Node 20's `performance.now()` builds an array per call (it goes through
 * `process.hrtime()`), so a timer's `start()`/`stop()` pair made garbage on every
 * use. The native layer reads the same clock (CLOCK_MONOTONIC, like libuv's
 * `uv_hrtime`) and writes it into a Float64Array; `now()` is small enough for V8
 * to inline, so the double never leaves a register as a heap number. One more
 * rule, measured: a double held in a local variable across the native call is
 * boxed (a new heap number per call), so `since()` parks its argument in a typed
 * array for the duration of the call.
 *
 * @module
 */
import { native } from '../native/index.js';

/**
 * A module-local constant, not an imported binding: V8 cannot fold an import
 * across modules, and its generic call of a native function boxed the caller's
 * doubles (a heap number per call, measured); a call to a known native function
 * takes V8's direct API-call path, which allocates nothing.
 */
const readClock = native.readClock;
const slot = new Float64Array(native.clockBuffer);

/**
 * performance.now() minus the native clock, taken once: the two then agree to
 * about a microsecond. Kept in a typed array, not a constant, so that it is
 * loaded after the native call instead of being held across it.
 */
const offset = new Float64Array(1);
offset[0] = ((): number => {
  let best = Infinity;
  let at = 0;
  for (let i = 0; i < 5; i++) {
    const p0 = performance.now();
    readClock();
    const p1 = performance.now();
    if (p1 - p0 < best) {
      best = p1 - p0;
      at = (p0 + p1) / 2 - slot[0]!;
    }
  }
  return at;
})();

/** Milliseconds on the monotonic clock, comparable with `performance.now()`; allocation-free. */
export function now(): number {
  readClock();
  return slot[0]! + offset[0]!;
}

const parked = new Float64Array(1);

/** Milliseconds since `start` (a value of `now()`); allocation-free. */
export function since(start: number): number {
  parked[0] = start;
  readClock();
  return slot[0]! - parked[0]! + offset[0]!;
}
