/**
 * Static fields: written once when the stats open, from a value or a function,
 * never again (the original's Static*Field). Readers see kind `info`.
 */
import { Kind, RecordFlags } from '../../format/v2.js';
import { Field, FieldSpec, type FieldOptions, type Placement, type V1Layout, type V2Layout } from '../field.js';

/** A write-once field: its value is fixed at open. */
export interface StaticField<T> extends Field {
  readonly value: T;
}

interface Settable<T> extends Field {
  set(value: T): void;
}

class StaticValue<T> extends Field implements StaticField<T> {
  constructor(
    label: string,
    private readonly inner: Field,
    readonly value: T,
  ) {
    super(label);
  }
  bind(at: Placement): void {
    this.inner.bind(at);
  }
}

/** Wraps a settable spec: the same bytes, written once, flagged STATIC. */
export class StaticSpec<T> extends FieldSpec<StaticField<T>> {
  readonly typeName: string;
  constructor(
    private readonly inner: FieldSpec<Settable<T>>,
    private readonly initial: T | (() => T),
    options: FieldOptions = {},
  ) {
    super({ ...inner.options, ...options });
    this.typeName = `static ${inner.typeName}`;
  }
  v2(): V2Layout {
    const l = this.inner.v2();
    return { ...l, kind: Kind.INFO, flags: l.flags | RecordFlags.STATIC };
  }
  v1(): V1Layout | undefined {
    const l = this.inner.v1();
    // The original's static fields are unbuffered: they never change after open.
    return l && { type: l.type, buffered: false };
  }
  create(label: string, at: Placement): StaticField<T> {
    const inner = this.inner.create(label, at);
    const value = typeof this.initial === 'function' ? (this.initial as () => T)() : this.initial;
    inner.set(value);
    return new StaticValue(label, inner, value);
  }
}
