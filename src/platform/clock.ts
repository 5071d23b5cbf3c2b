/**
 * The clock of timers and rates: milliseconds on the monotonic clock, on the time
 * base of `performance.now()`, read without allocating.
 *
 * Node 20's `performance.now()` builds an array per call (it goes through
 * `process.hrtime()`), so a timer's `start()`/`stop()` pair made garbage on every
 * use. The native layer reads the same clock (CLOCK_MONOTONIC, like libuv's
 * `uv_hrtime`) and writes it into a Float64Array instead of returning it; `now()`
 * is small enough for V8 to inline, so the double stays unboxed.
 *
 * One more thing, measured and not fully explained: a double that optimised code
 * holds in a local variable across the native call was at times boxed (a new heap
 * number per call), depending on how V8 compiled the caller. So nothing of ours
 * lives across the call: `since()` parks its argument in a typed array, and the
 * offset is loaded from one after the call.
 *
 * @module
 */
import { native } from '../native/index.js';

/** The native function, as a module constant that V8 can treat as a known target. */
const readClock = native.readClock;
const slot = new Float64Array(native.clockBuffer);

/** performance.now() minus the native clock, taken once: the two then agree to about a microsecond. */
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
