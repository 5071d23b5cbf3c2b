/**
 * Memory fields (the original's to-do "memory usage field/contextmanager").
 *
 * - memory usage: how much the V8 heap (`heapUsed`) and the resident set (`rss`)
 *   grew across a scope, in the timer's three forms: `measure(fn)` (sync or
 *   async), `start()` and `mark.stop()`, and `using _ = mem.scope()`. Published as
 *   one struct: `count`, then `last`, `mean` and `max` of each of the two growths.
 *   A growth can be negative (a collection ran inside the scope): heap figures are
 *   what the scope left behind, not what it allocated in total.
 * - process memory: `rss`, `heapTotal`, `heapUsed`, `external`, `arrayBuffers` of
 *   `process.memoryUsage()`, refreshed by `refresh()` or every `interval` ms on an
 *   unref'd timer until `stop()` or close.
 *
 * Both are v2 only, unit `bytes`. Reading memory costs a system call (about a
 * microsecond): these are for scopes and periodic refreshes, not per-item hot paths.
 */
import { Kind } from '../../format/v2.js';
import { Field, FieldSpec, type FieldOptions, type Placement, type V2Layout } from '../field.js';
import { structLayout } from './compound.js';
import { SeqBlock } from './seqblock.js';

/** A started measurement: stop it (or dispose of it) to record the growth. */
export interface MemoryMark extends Disposable {
  /** Heap and RSS at the start, in bytes. */
  readonly heapUsed: number;
  readonly rss: number;
  /** Record the growth since the start; returns it. Only the first stop records. */
  stop(): { heap: number; rss: number };
}

/** A field that records how much memory scopes added. */
export interface MemoryUsageField extends Field {
  /** Run `fn` (sync or async) and record the memory it added, even if it throws or rejects. */
  measure<T>(fn: () => T): T;
  /** Start a measurement. */
  start(): MemoryMark;
  /** The same as `start()`, for `using _ = mem.scope()`. */
  scope(): MemoryMark;
  /** Record growths measured elsewhere, in bytes. */
  record(heap: number, rss: number): void;
  /** Measurements recorded. */
  readonly count: number;
}

const MEMORY_USAGE_PARTS = ['count', 'heap_last', 'heap_mean', 'heap_max', 'rss_last', 'rss_mean', 'rss_max'] as const;

class Mark implements MemoryMark {
  readonly heapUsed: number;
  readonly rss: number;
  private done = false;
  constructor(private readonly field: V2MemoryUsage) {
    const m = process.memoryUsage();
    this.heapUsed = m.heapUsed;
    this.rss = m.rss;
  }
  stop(): { heap: number; rss: number } {
    const m = process.memoryUsage();
    const growth = { heap: m.heapUsed - this.heapUsed, rss: m.rss - this.rss };
    if (!this.done) {
      this.done = true;
      this.field.record(growth.heap, growth.rss);
    }
    return growth;
  }
  [Symbol.dispose](): void {
    this.stop();
  }
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && (typeof x === 'object' || typeof x === 'function') && typeof (x as { then?: unknown }).then === 'function';
}

class V2MemoryUsage extends SeqBlock implements MemoryUsageField {
  heapSum = 0;
  rssSum = 0;
  constructor(label: string, at: Placement) {
    super(label, at, MEMORY_USAGE_PARTS.length);
    // Continue a kept file's means.
    this.heapSum = this.f64[2]! * this.f64[0]!;
    this.rssSum = this.f64[5]! * this.f64[0]!;
  }
  record(heap: number, rss: number): void {
    if (this.closed) this.useAfterClose();
    const f = this.f64;
    this.beginWrite();
    const c = f[0]! + 1;
    f[0] = c;
    this.heapSum += heap;
    this.rssSum += rss;
    f[1] = heap;
    f[2] = this.heapSum / c;
    if (c === 1 || heap > f[3]!) f[3] = heap;
    f[4] = rss;
    f[5] = this.rssSum / c;
    if (c === 1 || rss > f[6]!) f[6] = rss;
    this.endWrite();
  }
  start(): MemoryMark {
    if (this.closed) this.useAfterClose();
    return new Mark(this);
  }
  scope(): MemoryMark {
    return this.start();
  }
  measure<T>(fn: () => T): T {
    const mark = this.start();
    let result: T;
    try {
      result = fn();
    } catch (err) {
      mark.stop();
      throw err;
    }
    if (!isThenable(result)) {
      mark.stop();
      return result;
    }
    return result.then(
      (v) => {
        mark.stop();
        return v;
      },
      (err: unknown) => {
        mark.stop();
        throw err;
      },
    ) as T;
  }
  get count(): number {
    if (this.closed) this.useAfterClose();
    return this.f64[0]!;
  }
}

/** Memory a scope added (v2 only; parts `count`, `heap_last`, `heap_mean`, `heap_max`, `rss_last`, `rss_mean`, `rss_max`). */
export class MemoryUsageSpec extends FieldSpec<MemoryUsageField> {
  readonly typeName = 'memory usage';
  constructor(options: Omit<FieldOptions, 'unit'> = {}) {
    super({ ...options, unit: 'bytes' });
  }
  v2(): V2Layout {
    return structLayout(MEMORY_USAGE_PARTS, Kind.GAUGE);
  }
  v1(): undefined {
    return undefined;
  }
  create(label: string, at: Placement): MemoryUsageField {
    return new V2MemoryUsage(label, at);
  }
}

/** The process's memory as published. */
export interface ProcessMemoryField extends Field {
  /** Read `process.memoryUsage()` now and publish it. */
  refresh(): void;
  /** Stop the periodic refresh (if any). Idempotent. */
  stop(): void;
}

const PROCESS_MEMORY_PARTS = ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const;

class V2ProcessMemory extends SeqBlock implements ProcessMemoryField {
  timer: NodeJS.Timeout | undefined;
  constructor(label: string, at: Placement, intervalMs: number) {
    super(label, at, PROCESS_MEMORY_PARTS.length);
    this.refresh();
    if (intervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.closed || this.detached) this.stop();
        else this.refresh();
      }, intervalMs);
      this.timer.unref();
    }
  }
  refresh(): void {
    if (this.closed) this.useAfterClose();
    const m = process.memoryUsage();
    this.beginWrite();
    const f = this.f64;
    f[0] = m.rss;
    f[1] = m.heapTotal;
    f[2] = m.heapUsed;
    f[3] = m.external;
    f[4] = m.arrayBuffers;
    this.endWrite();
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** The process's memory (v2 only): refreshed on demand, or every `interval` ms (0 = only on demand, the default). */
export class ProcessMemorySpec extends FieldSpec<ProcessMemoryField> {
  readonly typeName = 'process memory';
  readonly intervalMs: number;
  constructor(options: Omit<FieldOptions, 'unit'> & { interval?: number } = {}) {
    super({ ...options, unit: 'bytes' });
    this.intervalMs = options.interval ?? 0;
    if (!(this.intervalMs >= 0) || !Number.isFinite(this.intervalMs)) {
      throw new RangeError(`a refresh interval must be a number of ms (0 = on demand only), not ${this.intervalMs}`);
    }
  }
  v2(): V2Layout {
    return structLayout(PROCESS_MEMORY_PARTS, Kind.GAUGE);
  }
  v1(): undefined {
    return undefined;
  }
  create(label: string, at: Placement): ProcessMemoryField {
    return new V2ProcessMemory(label, at, this.intervalMs);
  }
}
