/**
 * The drop-in's values in the process's mmstats file: each metric is a labelled
 * family (an unlabelled one a plain field) in one file per thread, class
 * `PromClient` (`{CMD}-PromClient-{PID}-{TID}.mmstats` in the default stats
 * directory; MMSTATS_PATH and MMSTATS_FILES apply), so that `mmstats serve` and
 * every other reader see the series the in-process registry renders.
 *
 * What the file cannot hold stays in the process only, with one warning (code
 * MMSTATS_PROM_CLIENT): a label name the file refuses (one the exposition adds:
 * pid, tid, cmd, model, host, file; a `__` prefix; more than 16 names), a label
 * value over 128 bytes, a second metric of a name already in the file (the file
 * keeps the first; e.g. after `register.clear()`), histogram buckets that are not
 * ascending and finite. prom-client's behaviour holds in every case; only readers
 * of the file miss those series.
 */
import type { Family } from '../../writer/family.js';
import type { FieldSpec } from '../../writer/field.js';
import { field } from '../../writer/fields/index.js';
import { openStats, type Stats } from '../../writer/model.js';
import type { StringField } from '../../writer/fields/wide.js';
import { memoryStorage, SUMMARY_LAYOUT, type CellFamily, type MetricMeta, type MetricStorage } from './storage.js';

/** The field holding, as JSON, each metric's aggregator and percentiles when they are not the defaults. */
export const META_LABEL = 'prom_client.meta';
const META_SIZE = 8192;

/** At most this many label sets per metric in the file (prom-client has no limit). */
const MAX_SERIES = 1_000_000;

let stats: Stats | undefined;
let warned = false;
let metaField: StringField | undefined;
const meta: Record<string, MetricMeta> = {};

function warn(why: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`mmstats/prom-client keeps some series in the process only, where readers of its file do not see them: ${why}`, {
    code: 'MMSTATS_PROM_CLIENT',
  });
}

/** This thread's file, opened on first use (in memory only if it cannot be made: see OpenOptions.onError). */
function file(): Stats {
  return (stats ??= openStats({ name: 'PromClient', onError: 'memory' }));
}

/** The children of a family, a label set's cell in memory where the file refuses it. */
class FamilyCells<C> implements CellFamily<C> {
  constructor(
    private readonly family: Family<any, any>,
    private readonly memory: CellFamily<C>,
  ) {}
  child(values: readonly string[]): C {
    try {
      // At most 16 label values (the family refuses more names).
      // eslint-disable-next-line no-restricted-syntax
      return this.family.with(...values) as C;
    } catch (e) {
      warn((e as Error).message);
      return this.memory.child(values);
    }
  }
  remove(values: readonly string[]): void {
    try {
      // eslint-disable-next-line no-restricted-syntax -- at most 16 label values
      this.family.remove(...values);
    } catch {
      // a label set the file refused was never in it
    }
  }
}

/** An unlabelled metric's one field: made again (after a reset) by zeroing it. */
class SingleCell<C> implements CellFamily<C> {
  constructor(
    private readonly cell: C,
    private readonly zero: (cell: C) => void,
  ) {}
  child(): C {
    this.zero(this.cell);
    return this.cell;
  }
  remove(): void {}
}

function cells<C>(
  name: string,
  labelNames: readonly string[],
  spec: (labels: string[] | undefined) => FieldSpec,
  zero: (cell: C) => void,
  memory: CellFamily<C>,
): CellFamily<C> {
  const f = file();
  if (f.get(name) !== undefined) {
    warn(`a second metric named ${name}: the file keeps the first`);
    return memory;
  }
  try {
    const made = f.add(name, spec(labelNames.length > 0 ? [...labelNames] : undefined)) as unknown;
    return labelNames.length > 0 ? new FamilyCells(made as Family<any, any>, memory) : new SingleCell(made as C, zero);
  } catch (e) {
    warn((e as Error).message);
    return memory;
  }
}

const zeroNumber = (c: { value: number }): void => {
  c.value = 0;
};
const zeroHistogram = (c: { reset(): void }): void => c.reset();

function describe(name: string, m: MetricMeta): void {
  meta[name] = m;
  const text = JSON.stringify(meta);
  if (Buffer.byteLength(text) > META_SIZE) {
    delete meta[name];
    warn(`the aggregators and percentiles of more metrics than ${META_SIZE} bytes of JSON hold (from ${name} on, clusterMetrics() sums)`);
    return;
  }
  try {
    metaField ??= file().add(
      META_LABEL,
      field.string({ size: META_SIZE, help: 'mmstats/prom-client: aggregators and percentiles (JSON)' }),
    );
    metaField.set(text);
  } catch (e) {
    warn((e as Error).message);
  }
}

/** Cells in this thread's mmstats file. */
export const fileStorage: MetricStorage = {
  describe,
  counter: (name, help, labelNames) =>
    cells(
      name,
      labelNames,
      (labels) => (labels ? field.counter({ help, labels, maxSeries: MAX_SERIES }) : field.counter({ help })),
      zeroNumber,
      memoryStorage.counter(name, help, labelNames),
    ),
  gauge: (name, help, labelNames) =>
    cells(
      name,
      labelNames,
      (labels) => (labels ? field.gauge({ help, labels, maxSeries: MAX_SERIES }) : field.gauge({ help })),
      zeroNumber,
      memoryStorage.gauge(name, help, labelNames),
    ),
  histogram: (name, help, labelNames, bounds) =>
    cells(
      name,
      labelNames,
      (labels) =>
        labels ? field.histogram({ help, buckets: bounds, labels, maxSeries: MAX_SERIES }) : field.histogram({ help, buckets: bounds }),
      zeroHistogram,
      memoryStorage.histogram(name, help, labelNames, bounds),
    ),
  summary: (name, help, labelNames) =>
    cells(
      name,
      [...labelNames, 'window_slot'],
      (labels) => field.histogram({ help, ...SUMMARY_LAYOUT, labels: labels!, maxSeries: MAX_SERIES }),
      zeroHistogram,
      memoryStorage.summary(name, help, labelNames),
    ),
};
