/**
 * The contract between a field type and the file that holds it: a spec says how a
 * field lays out (per format); the storage places it and hands back where its value
 * lives; the spec then makes the live field object that user code updates.
 */
import { MmstatsError } from '../errors.js';
import type { PartMeta } from '../format/v2.js';

/** File format version: 2 (this library's) or 1 (the original's). */
export type FormatVersion = 1 | 2;

/** How a field lays out in a v2 file. */
export interface V2Layout {
  readonly dataType: number;
  readonly kind: number;
  readonly flags: number;
  readonly param: number;
  readonly valueSize: number;
  /** Alignment of the value block: its natural size, at most 8. */
  readonly align: number;
  readonly parts: readonly PartMeta[];
  readonly bounds: Float64Array;
  /** The record's extra bytes when they are not bounds (a family's description). */
  readonly extra?: Uint8Array;
}

/** How a field lays out in a v1 file: a struct format and whether it is double-buffered. */
export interface V1Layout {
  readonly type: string;
  readonly buffered: boolean;
}

/** Where a placed field's value lives. */
export interface Placement {
  readonly format: FormatVersion;
  readonly buffer: ArrayBuffer;
  /** v2: offset of the value block. v1: offset of the first value copy. */
  readonly offset: number;
  /** v1 only: offset of the write-buffer byte. */
  readonly writeBufferOffset: number;
  /** v1 only: size of one value copy. */
  readonly copySize: number;
  /** v2: the file's heap, for a field that takes more room after it is placed (a family's slot chunks). */
  readonly heap?: Heap;
}

/** The heap of a v2 file, as a field that grows sees it. */
export interface Heap {
  /**
   * Reserve `size` zeroed bytes, 8-aligned, and publish the new used size. The
   * mapping may move: every placed field is re-bound (`bind`) before this returns.
   */
  alloc(size: number): number;
}

/** Options every field accepts. */
export interface FieldOptions {
  /** The label in the file; defaults to the property name (with the model's prefix). */
  readonly label?: string;
  /** Help text shown by readers. */
  readonly help?: string;
  /** Unit of the value, e.g. `seconds`, `bytes`, `requests`. */
  readonly unit?: string;
}

/**
 * A field's description before it is placed in a file. Instances are made by the
 * `field.*` factories; `TField` is the live field type, which TypeScript infers
 * on a model's instance.
 */
export abstract class FieldSpec<TField extends Field = Field> {
  constructor(readonly options: FieldOptions) {}
  /** The v2 layout. */
  abstract v2(): V2Layout;
  /** The v1 layout, or undefined if the field cannot be written in format 1. */
  abstract v1(): V1Layout | undefined;
  /** Make the live field over its placement (called once per open, again on remap via `bind`). */
  abstract create(label: string, at: Placement): TField;
  /** A short name of the field type for error messages. */
  abstract readonly typeName: string;
}

/** Base of every live field: its label, and the check that makes use after close an error. */
export abstract class Field {
  /** @internal Set when the stats are closed: every update then throws. */
  closed = false;
  /** @internal Set when a family removed this child: it is bound to scratch memory and its timers stop. */
  detached = false;

  constructor(
    /** The field's label in the file. */
    readonly label: string,
  ) {}

  /** @internal Re-create the views after the storage moved the mapping. */
  abstract bind(at: Placement): void;

  /**
   * @internal Close the field: from now on every method and accessor throws
   * ERR_MMSTATS_CLOSED. Own properties defined here shadow the prototype's, so the
   * update paths need no check of their own and an open field pays nothing for it.
   */
  markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const fail = (): never => this.useAfterClose();
    const keep = new Set(['constructor', 'bind', 'markClosed', 'useAfterClose']);
    for (
      let proto = Object.getPrototypeOf(this) as object | null;
      proto && proto !== Object.prototype;
      proto = Object.getPrototypeOf(proto) as object | null
    ) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        if (keep.has(name) || Object.prototype.hasOwnProperty.call(this, name)) continue;
        const d = Object.getOwnPropertyDescriptor(proto, name)!;
        if (typeof d.value === 'function') Object.defineProperty(this, name, { value: fail, configurable: true });
        else if (d.get || d.set) Object.defineProperty(this, name, { get: fail, set: fail, configurable: true });
      }
    }
  }

  /** @internal Throw the error for a use after close. Kept out of line so updates stay small. */
  protected useAfterClose(): never {
    throw new MmstatsError('ERR_MMSTATS_CLOSED', `field ${this.label} used after its stats were closed`);
  }
}

const LABEL_PATTERN = /^[^\s\p{Cc}]+$/u;

/** Check a label; throws ERR_MMSTATS_LABEL naming the problem. */
export function checkLabel(label: string): void {
  if (label.length === 0) throw new MmstatsError('ERR_MMSTATS_LABEL', 'a label cannot be empty');
  if (!LABEL_PATTERN.test(label)) {
    throw new MmstatsError('ERR_MMSTATS_LABEL', `label ${JSON.stringify(label)} holds whitespace or control characters`);
  }
  if (Buffer.byteLength(label) > 1024)
    throw new MmstatsError('ERR_MMSTATS_LABEL', `label ${label.slice(0, 40)}... is longer than 1024 bytes`);
}
