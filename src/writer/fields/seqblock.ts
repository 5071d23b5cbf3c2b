/**
 * The base of every field whose value is several float64 slots published together:
 * averages, sampling counters, min/max/last triples, memory fields, histograms and
 * timers. It holds the views over one seqlocked value block (src/format/seqlock.ts)
 * and the writer's copy of the sequence; subclasses write their slots between
 * `beginWrite()` and `endWrite()`, in place, without allocating.
 */
import { Seqlocked } from '../../format/v2.js';
import { addSeqlockWrites } from '../../format/seqlock.js';
import { Field, type Placement } from '../field.js';

/** @internal A seqlocked block of `slots` float64 values with one writer. */
export abstract class SeqBlock extends Field {
  /** The block's sequence word. */
  declare seq: Int32Array;
  /** The payload slots. */
  declare f64: Float64Array;
  /** The writer's copy of the sequence: a write never reads it back from the file. */
  s = 0;
  declare beginWrite: () => void;
  declare endWrite: () => void;

  constructor(
    label: string,
    at: Placement,
    /** Number of float64 slots in the payload. */
    readonly slots: number,
  ) {
    super(label);
    this.bind(at);
  }

  bind(at: Placement): void {
    this.seq = new Int32Array(at.buffer, at.offset + Seqlocked.SEQUENCE, 1);
    this.f64 = new Float64Array(at.buffer, at.offset + Seqlocked.PAYLOAD, this.slots);
    // Even out a sequence left odd by a writer that died mid-write (a kept file).
    this.s = (Atomics.load(this.seq, 0) + 1) & ~1;
    Atomics.store(this.seq, 0, this.s);
  }
}
addSeqlockWrites(SeqBlock);
