/**
 * prom-client's name rules and its messages for bad input, word for word, so that
 * code and tests written against prom-client see the same errors.
 */
import util from 'node:util';

// From https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels (as prom-client).
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** True if `name` is a valid Prometheus metric name. */
export function validateMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

/** True if every name is a valid Prometheus label name. */
export function validateLabelName(names: readonly string[] = []): boolean {
  return names.every((name) => LABEL_NAME.test(name));
}

/** Throw prom-client's error if `labels` has a name not among `saved`. */
export function validateLabel(saved: readonly string[], labels: object): void {
  for (const label in labels) {
    if (!saved.includes(label)) throw new Error(`Added label "${label}" is not included in initial labelset: ${util.inspect(saved)}`);
  }
}

/** prom-client's `getLabels`: an object argument as is, else positional values named by `labelNames`. */
export function getLabels(labelNames: readonly string[], args: readonly unknown[]): any {
  if (typeof args[0] === 'object') return args[0];
  if (labelNames.length !== args.length) {
    throw new Error(
      `Invalid number of arguments (${args.length}): "${args.join(', ')}" for label names (${labelNames.length}): "${labelNames.join(', ')}".`,
    );
  }
  const acc: Record<string, unknown> = {};
  for (let i = 0; i < labelNames.length; i++) acc[labelNames[i]!] = args[i];
  return acc;
}

/** A number as prom-client prints it ('Nan', '+Inf', '-Inf' or JavaScript's own form). */
export function valueString(value: number): string {
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

/** prom-client's message for a value that is not a number. */
export function notANumber(value: unknown, what = 'Value'): TypeError {
  return new TypeError(`${what} is not a valid number: ${util.format(value)}`);
}

export function isObject(o: unknown): o is Record<string, any> {
  return o !== null && typeof o === 'object';
}
