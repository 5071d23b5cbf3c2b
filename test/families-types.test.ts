/**
 * The types of labelled families, checked by tsc in `npm test`: label names and
 * arity are known at compile time. Each @ts-expect-error line fails the build if
 * the types stop catching that mistake; the test then runs the valid calls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineModel, field, openStats, Family, type CounterField, type HistogramField, type StringField } from '../src/index.js';
import { tempStatsDir } from './helpers/proc.js';

const Web = defineModel('WebTypes', {
  requests: field.counter({ labels: ['method', 'status'] }),
  duration: field.histogram({ buckets: [0.1, 1], labels: ['route'] }),
  name: field.string({ size: 8, labels: ['a', 'b', 'c'] }),
  up: field.gauge(),
});

/** Never called: only compiled. */
export function typeChecks(s: ReturnType<typeof Web.open>): void {
  const c: CounterField = s.requests.with('GET', 200);
  const h: HistogramField = s.duration.labels({ route: '/a' });
  const n: StringField = s.name.with('x', 'y', 'z');
  const names: readonly ['method', 'status'] = s.requests.labelNames;
  void [c, h, n, names];
  s.up.set(1); // an unlabelled field is the field itself
  // @ts-expect-error too few label values
  s.requests.with('GET');
  // @ts-expect-error too many label values
  s.requests.with('GET', '200', 'x');
  // @ts-expect-error a label value is a string or a number
  s.requests.with('GET', true);
  // @ts-expect-error an unknown label name
  s.requests.labels({ method: 'GET', status: '200', route: '/' });
  // @ts-expect-error a missing label name
  s.duration.labels({});
  // @ts-expect-error a misspelled label name
  s.duration.labels({ rout: '/a' });
  // @ts-expect-error a child has its type's API: a counter has no record()
  s.requests.with('GET', '200').record(1);
  // @ts-expect-error remove takes the family's arity too
  s.requests.remove('GET');
  // @ts-expect-error an unlabelled field has no with()
  s.up.with('x');
  // @ts-expect-error static fields take no labels
  field.static.string('x', { labels: ['a'] });
  const procedural = openStats({ name: 'p' }).add('jobs', field.counter({ labels: ['queue'] }));
  procedural.with('q').incr();
  // @ts-expect-error the procedural form is typed too
  procedural.with('q', 'extra');
}

test('the typed calls work at run time', () => {
  const s = Web.open({ path: tempStatsDir(), defaultFields: false });
  try {
    assert.ok(s.requests instanceof Family);
    s.requests.with('GET', 200).incr();
    assert.equal(s.requests.labels({ method: 'GET', status: '200' }).value, 1);
    assert.deepEqual(s.requests.labelNames, ['method', 'status']);
    assert.equal(s.requests.label, 'requests');
    assert.equal(s.requests.size, 1);
  } finally {
    s.remove();
  }
});
