/**
 * The seqlock: how a value larger than one word is published without a lock.
 *
 * Write (one writer per value, never waits):
 *   seq = seq + 1          (odd: a write is in progress)   Atomics.store
 *   ...store the payload...                                plain stores
 *   seq = seq + 1          (even: the value is complete)   Atomics.store
 *
 * Read (any number of readers, never block the writer):
 *   s1 = load seq; if odd, retry                           Atomics.load
 *   ...copy the payload...
 *   s2 = load seq; if s1 != s2, retry                      Atomics.load
 *
 * The writer needs only store-store order: the odd sequence before any payload
 * store, every payload store before the even sequence. On x86-64 (TSO) the CPU
 * never reorders stores with other stores, and V8 keeps typed-array stores in
 * program order (they are all on its effect chain; it does not eliminate or
 * reorder element stores), so plain stores suffice and cost what a store costs.
 * On weakly ordered CPUs (arm64) the sequence stores are Atomics.store (a
 * release store, stlr). That orders the payload before the even sequence, but a
 * release store lets later stores pass it, so after the odd one beginWrite also
 * loads the word with Atomics.load (ldar): a load-acquire is ordered after an
 * earlier store-release, and no later access passes a load-acquire, so no
 * payload store can be seen before the odd sequence. The writer keeps its own
 * copy of the sequence, so a write never depends on what it reads back.
 * Shared fields (several threads writing one value) first take the odd
 * sequence with a compare-exchange; see `beginShared`.
 */

/** True where the CPU keeps stores in order (x86 TSO): plain sequence stores are enough. */
export const STORES_ORDERED = process.arch === 'x64' || process.arch === 'ia32';

/**
 * A seqlock's writer: the view of its sequence word (element 0) and its own copy of
 * the sequence, with `beginWrite`/`endWrite` installed by `addSeqlockWrites`.
 */
export interface SeqlockWriter {
  readonly seq: Int32Array;
  /** The writer's copy of the sequence (even between writes). */
  s: number;
  /** Start a write: the sequence becomes odd. */
  beginWrite(): void;
  /** End the write: the sequence becomes even again. */
  endWrite(): void;
}

/** Writes where stores stay in order (x86): plain stores of the sequence. */
const orderedWrites = {
  beginWrite(this: SeqlockWriter): void {
    this.seq[0] = (this.s + 1) | 0;
  },
  endWrite(this: SeqlockWriter): void {
    this.seq[0] = this.s = (this.s + 2) | 0;
  },
};

/** Writes on a weakly ordered CPU: release stores, and a load-acquire after the odd one as the barrier. */
const weakWrites = {
  beginWrite(this: SeqlockWriter): void {
    Atomics.store(this.seq, 0, (this.s + 1) | 0);
    Atomics.load(this.seq, 0); // payload stores stay after the odd sequence
  },
  endWrite(this: SeqlockWriter): void {
    Atomics.store(this.seq, 0, (this.s = (this.s + 2) | 0));
  },
};

/**
 * Give a writer class `beginWrite` and `endWrite`, chosen once for this CPU, as
 * prototype methods. Why methods and not imported functions: V8 folds a
 * prototype's method into the caller as a constant, while each use of an imported
 * binding is a load and a hole check inside the record path (about 0.7 ns of a
 * 4 ns histogram record, measured). And the chosen variant holds only its own
 * case, since V8 inlines a record path only up to a total size.
 */
export function addSeqlockWrites(writerClass: { prototype: object }): void {
  Object.assign(writerClass.prototype, STORES_ORDERED ? orderedWrites : weakWrites);
}

/**
 * Start a write on a value several threads share: spin until this thread owns
 * the odd sequence. Only shared-mode fields use it; a per-thread writer never
 * waits.
 */
export function beginShared(seq: Int32Array, index: number): number {
  for (;;) {
    const s = Atomics.load(seq, index);
    if ((s & 1) === 0 && Atomics.compareExchange(seq, index, s, (s + 1) | 0) === s) return (s + 1) | 0;
  }
}

/**
 * Copy the bytes [start, end) of a seqlocked block for a reader, complete before
 * the reader loads the sequence again. On x86 (TSO) loads are never reordered
 * with loads, so a plain copy is. On weakly ordered CPUs a plain load may be
 * performed after a later Atomics.load (a load-acquire orders what follows it,
 * not what precedes it), so each word is copied with Atomics.load, which keeps
 * every load in program order.
 */
export function copyBlock(words: Int32Array, bytes: Uint8Array, start: number, end: number): Uint8Array {
  if (STORES_ORDERED || start % 4 !== 0 || (end - start) % 4 !== 0) return bytes.slice(start, end);
  const out = new Int32Array((end - start) / 4);
  for (let i = 0, w = start / 4; i < out.length; i++, w++) out[i] = Atomics.load(words, w);
  return new Uint8Array(out.buffer);
}

/** How many times a reader retries a seqlocked value before it reports it busy. */
export const READ_RETRIES = 10_000;

/**
 * Read a seqlocked value: `copy` is called until it ran entirely between two
 * equal, even sequence loads. Returns false if the value never settled.
 */
export function readConsistent(seq: Int32Array, index: number, copy: () => void): boolean {
  for (let attempt = 0; attempt < READ_RETRIES; attempt++) {
    const s1 = Atomics.load(seq, index);
    if ((s1 & 1) !== 0) continue;
    copy();
    if (Atomics.load(seq, index) === s1) return true;
  }
  return false;
}
