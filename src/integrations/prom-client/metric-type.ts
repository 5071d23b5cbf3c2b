import type { Counter } from './counter.js';
import type { Gauge } from './gauge.js';
import type { Histogram } from './histogram.js';
import type { Summary } from './summary.js';

/** Any metric (prom-client's `Metric` type). */
export type Metric<T extends string = string> = Counter<T> | Gauge<T> | Summary<T> | Histogram<T>;
